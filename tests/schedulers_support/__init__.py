"""Settings, apps and helpers for the scheduler tests' worker subprocesses."""

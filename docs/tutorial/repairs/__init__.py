"""The tutorial's example app: repairs offered to one technician at a time."""

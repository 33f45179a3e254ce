"""The GTS example, started for real: daphne plus the embedded sweep loop.

A fresh SQLite file per run, a free port on 127.0.0.1, a short driver
timeout. The processes are the ones ``python3 dev.py example`` starts, so the
pages are tested as a person would meet them.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.children import Children, run_python
from tests.support.polling import wait_for
from tests.support.ports import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"

#: Seconds a driver has to accept, and between sweeps, in these tests.
TIMEOUT = 5
SWEEP_INTERVAL = 0.5


@dataclass
class ExampleServer:
    """A running example: its URL, demo data, and its processes."""

    base: str
    env: dict[str, str]
    children: Children
    demo: dict = field(default_factory=dict)

    def load_demo(self) -> None:
        """Migrate a new database and load the demo (``tests.support.example_demo``)."""
        # From the repository root (the example has a ``tests`` package of its
        # own), with the example's packages on the path.
        env = {**self.env, "PYTHONPATH": str(EXAMPLE)}
        result = run_python("-m", "tests.support.example_demo", env=env, timeout=120)
        if result.returncode:
            raise RuntimeError(f"example setup failed:\n{result.stdout}{result.stderr}")
        self.demo = json.loads(result.stdout.strip().splitlines()[-1])

    def start(self, name: str, args: list[str]) -> None:
        """Start a long-running child in the example's folder, its output to files."""
        self.children.start(name, args, self.env, cwd=EXAMPLE)

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Poll the login page until the server answers."""

        def answers() -> bool:
            for child in self.children.started:
                if not child.alive():
                    raise RuntimeError(f"a server process exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.base + "/accounts/login/", timeout=2):
                    return True
            except (urllib.error.URLError, OSError):
                return False

        wait_for(answers, seconds, "the example to answer", interval=0.2)

    def output(self) -> str:
        """What the children printed (for failure messages)."""
        return "\n".join(child.report() for child in self.children.started)

    def stop(self) -> None:
        """Stop the web server and the sweeper (SIGTERM, then SIGKILL after 10 s)."""
        self.children.stop_all()


def start_example(workdir: Path) -> ExampleServer:
    """Migrate a new database, load the demo, start the web server and the sweeper."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The test run's own Django and broker settings must not leak in.
        if key not in {"DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL", "PYTHONPATH"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="backend.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'example.sqlite3'}",
        ASSIGNMENT_SCHEDULER="command",
        DRIVER_ASSIGNMENT_TIMEOUT_SECONDS=str(TIMEOUT),
        EXPIRY_SWEEP_SECONDS=str(SWEEP_INTERVAL),
        DJANGO_DEBUG="1",
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    server = ExampleServer(
        base=f"http://127.0.0.1:{port}", env=env, children=Children(workdir)
    )
    server.load_demo()
    try:
        server.start(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "backend.asgi:application",
            ],
        )
        server.start(
            "sweeper",
            [
                sys.executable,
                "manage.py",
                "expire_assignments",
                "--loop",
                "--interval",
                str(SWEEP_INTERVAL),
            ],
        )
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server

"""The GTS example, started for real: daphne plus the embedded sweep loop.

A fresh SQLite file per run, a free port on 127.0.0.1, a short driver
timeout. The processes are the ones ``python3 dev.py example`` starts, so the
pages are tested as a person would meet them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"

#: Seconds a driver has to accept, and between sweeps, in these tests.
TIMEOUT = 5
SWEEP_INTERVAL = 0.5


# Migrate and load the demo in one interpreter (each start costs seconds),
# printing the demo's JSON plus the key of the other station's request.
SETUP = """
import io, json
import django
django.setup()
from django.core.management import call_command
from logistics.models import StockRequest
call_command("migrate", interactive=False, verbosity=0)
out = io.StringIO()
call_command("load_demo", json=True, stdout=out)
demo = json.loads(out.getvalue().strip().splitlines()[-1])
demo["other_station_request"] = StockRequest.objects.get(dbs__code="OKHLA").pk
print(json.dumps(demo))
"""


def free_port() -> int:
    """A port nothing listens on right now (127.0.0.1 only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ExampleServer:
    """A running example: its URL, demo data, and processes to stop."""

    base: str
    demo: dict
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def python(self, code: str) -> str:
        """Run Python code with the example's settings; what it printed."""
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=EXAMPLE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"example setup failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def start(self, name: str, args: list[str], log_dir: Path) -> None:
        """Start a long-running child, its output to a log file."""
        log = log_dir / f"{name}.log"
        self.logs.append(log)
        with log.open("w") as out:
            self.procs.append(
                subprocess.Popen(
                    args,
                    cwd=EXAMPLE,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Poll the login page until the server answers."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a server process exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.base + "/accounts/login/", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(
            f"the example did not answer within {seconds:g}s:\n{self.output()}"
        )

    def output(self) -> str:
        """What the children printed (for failure messages)."""
        return "\n".join(
            f"--- {log.name}\n{log.read_text()[-4000:]}" for log in self.logs
        )

    def stop(self) -> None:
        """SIGTERM each child, then SIGKILL what is still running after 10 s."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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
    server = ExampleServer(base=f"http://127.0.0.1:{port}", demo={}, env=env)
    server.demo = json.loads(server.python(SETUP).strip().splitlines()[-1])
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
            workdir,
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
            workdir,
        )
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server

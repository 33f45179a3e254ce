"""Run the GTS example in one command: ``python3 dev.py example`` from the repository.

It migrates an SQLite database, loads demo data, starts the web server
(daphne, 127.0.0.1:8000) and a scheduler, then has the demo EIC offer a stock
request to driver Ravi with a short timeout (20 s). Ravi says nothing: the
offer expires, the request returns to PENDING, and the EIC's "Driver
Assignment Expired" notification is printed by the log notifier.

The processes are ``Procfile.dev``'s, run by honcho: ``web`` and the embedded
``scheduler`` (``manage.py expire_assignments --loop``, no server to install)
unless ``CELERY_BROKER_URL`` is set, in the environment or in ``.env``: then
``web``, ``worker`` and ``beat`` (``celery -A backend worker`` and ``beat``)
against that broker, the GTS guide's setup. Ctrl-C (or SIGTERM) stops
everything; so does any process exiting.

``--ci-smoke`` runs until the first expiry notification is printed and the
API shows the request back in PENDING, then exits 0 (1 after ``--wait``
seconds without it).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from honcho.environ import parse_procfile
from honcho.manager import SIGNALS, Manager
from honcho.printer import Message, Printer

HERE = Path(__file__).resolve().parent
PROCFILE = HERE / "Procfile.dev"
EMBEDDED = ("web", "scheduler")
CELERY = ("web", "worker", "beat")
EXPIRED_TITLE = "Driver Assignment Expired"
#: honcho's return code when it was stopped by SIGINT or SIGTERM.
SIGNALLED = {signal["rc"] for signal in SIGNALS.values()}


def say(text: str = "") -> None:
    """Print a line in one write: the demo thread and honcho's printer share stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.getenv("PORT", "8000")))
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        help="Seconds a driver has to accept (demo).",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="Seconds between sweeps (demo)."
    )
    parser.add_argument(
        "--no-offer", action="store_true", help="Do not make the demo offer at start."
    )
    parser.add_argument(
        "--ci-smoke",
        action="store_true",
        help="Exit 0 after the first expiry, 1 on timeout.",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=120.0,
        help="--ci-smoke gives up after this many seconds.",
    )
    return parser.parse_args(argv)


def project_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment every process runs with: demo timeout, fast sweeps, unbuffered."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "backend.settings"
    env["DRIVER_ASSIGNMENT_TIMEOUT_SECONDS"] = f"{args.timeout:g}"
    env["EXPIRY_SWEEP_SECONDS"] = f"{args.interval:g}"
    env["PYTHONUNBUFFERED"] = "1"
    env["PORT"] = str(args.port)
    # Procfile.dev's python, daphne and celery are this interpreter's: dev.py
    # runs .venv's python without activating the venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    return env


def broker_url() -> str:
    """``CELERY_BROKER_URL`` from the environment or ``.env`` (empty: embedded mode)."""
    from dotenv import dotenv_values

    env_file = os.getenv("GTS_ENV_FILE", str(HERE / ".env"))
    return (
        os.getenv("CELERY_BROKER_URL")
        or dotenv_values(env_file).get("CELERY_BROKER_URL", "")
        or ""
    )


def reachable(url: str) -> bool:
    """Whether the broker's host:port accepts connections."""
    parts = urlsplit(url)
    default = {"redis": 6379, "rediss": 6380, "amqp": 5672}.get(parts.scheme, 6379)
    try:
        with socket.create_connection(
            (parts.hostname or "localhost", parts.port or default), 2
        ):
            return True
    except OSError:
        return False


class Output(Printer):
    """honcho's printer, prefixing each line with ``[name]``; the demo reads the lines."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)
        self.lines: queue.Queue[str] = queue.Queue()

    def write(self, message: Message) -> None:
        data = message.data
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        for line in text.splitlines():
            say(f"[{message.name}] {line}")
            self.lines.put(line)


def processes(celery: bool) -> dict[str, str]:
    """The Procfile.dev commands of the mode: web + scheduler, or web + worker + beat."""
    procfile = parse_procfile(PROCFILE.read_text()).processes
    return {name: procfile[name] for name in (CELERY if celery else EMBEDDED)}


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command to completion; its output, or exit on failure."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed ({result.returncode})")
    return result.stdout


def api(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    """Call the example's API with a token; the decoded JSON response."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_for_server(base: str, seconds: float = 60.0) -> bool:
    """Poll the schema URL until the server answers; whether it did in time.

    If the web process exits instead, honcho stops everything and this thread
    goes with the rest of the program.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/schema/", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def banner(
    base: str, demo: dict[str, Any], args: argparse.Namespace, celery: bool
) -> None:
    """Where everything is, and how to log in."""
    mode = (
        "Celery worker + beat (CELERY_BROKER_URL)"
        if celery
        else (f"embedded, expire_assignments --loop --interval {args.interval:g}")
    )
    say("\n" + "=" * 72)
    say(f"GTS example running at {base}/  (Ctrl-C stops everything)")
    say(f"  dispatch pages:      {base}/  (EIC board, driver offers: sign in below)")
    say(f"  API docs (OpenAPI):  {base}/api/docs/")
    say(f"  admin:               {base}/admin/  (staff login: admin / gts-demo)")
    say(f"  scheduler:           {mode}")
    names = ", ".join(CELERY if celery else EMBEDDED)
    say(f"  processes:           honcho, Procfile.dev: {names}")
    say(
        f"  driver timeout:      {args.timeout:g} s (DRIVER_ASSIGNMENT_TIMEOUT_SECONDS)"
    )
    say("  demo users (password / API token):")
    for user in demo["users"]:
        say(
            f"    {user['role']:<6} {user['username']:<11} "
            f"{user['password']}  {user['token']}"
        )
    say("=" * 72 + "\n")


def offer(base: str, demo: dict[str, Any], driver: str = "ravi") -> dict[str, Any]:
    """The EIC offers the first pending request to a driver, through the API."""
    eic = next(u for u in demo["users"] if u["role"] == "EIC")
    path = f"/api/eic/stock-requests/{demo['pending_request']}/status/"
    body = {"status": "ASSIGNING", "target_driver": demo["drivers"][driver]}
    say(
        "Demo offer, as the EIC (the same call with curl):\n"
        f"  curl -X PATCH {base}{path} -H 'Authorization: Token {eic['token']}' "
        f"-H 'Content-Type: application/json' -d '{json.dumps(body)}'"
    )
    result = api(base, "PATCH", path, eic["token"], body)
    say(
        f"Offered stock request {result['id']} to {driver}; it expires at "
        f"{result['expires_at']} unless {driver} accepts "
        "(POST /api/driver-trips/accept/)."
    )
    return result


def request_status(base: str, demo: dict[str, Any], pk: int) -> dict[str, Any]:
    """The stock request as the EIC's API shows it."""
    eic = next(u for u in demo["users"] if u["role"] == "EIC")
    rows = api(base, "GET", "/api/eic/stock-requests/", eic["token"])
    return next(row for row in rows if row["id"] == pk)


class Demo(threading.Thread):
    """The demo offer and the smoke check, beside honcho's loop.

    honcho's loop owns the main thread (it handles SIGINT and SIGTERM there),
    so the demo runs here. It ends the run by asking honcho to stop the
    processes once it has a result (``--ci-smoke``, or a web server that never
    answered); ``result`` is then the exit status.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        manager: Manager,
        output: Output,
        demo: dict[str, Any],
        celery: bool,
    ) -> None:
        super().__init__(name="demo", daemon=True)
        self.args, self.manager, self.output = args, manager, output
        self.demo, self.celery = demo, celery
        self.base = f"http://127.0.0.1:{args.port}"
        self.result: int | None = None

    def run(self) -> None:
        try:
            self.result = self.demonstrate()
        except Exception:
            traceback.print_exc()
            self.result = 1
        say("Stopping...")
        self.manager.terminate()

    def demonstrate(self) -> int:
        """Wait for the server, offer, watch; the status (only ``--ci-smoke`` ends)."""
        if not wait_for_server(self.base):
            say(f"The web server did not answer on {self.base} within 60s.")
            return 1
        banner(self.base, self.demo, self.args, self.celery)
        offered = None if self.args.no_offer else offer(self.base, self.demo)
        deadline = time.monotonic() + self.args.wait
        while True:
            if self.args.ci_smoke and time.monotonic() > deadline:
                say(f"smoke: no expiry notification within {self.args.wait:g}s")
                return 1
            try:
                line = self.output.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if EXPIRED_TITLE in line and offered is not None:
                row = request_status(self.base, self.demo, offered["id"])
                say(
                    f"Stock request {row['id']} is {row['status']} again "
                    f"(target_driver={row['target_driver']}, "
                    f"assignment_mode={row['assignment_mode']}); the EIC was notified."
                )
                if self.args.ci_smoke:
                    ok = row["status"] == "PENDING" and row["target_driver"] is None
                    say(f"smoke: {'ok' if ok else 'FAILED'}")
                    return 0 if ok else 1


def run(args: argparse.Namespace) -> int:
    """Prepare, run Procfile.dev's processes under honcho with the demo; the status."""
    env = project_env(args)
    url = broker_url()
    if url and not reachable(url):
        print(
            f"CELERY_BROKER_URL is {url!r}, which is not reachable. Start Redis, or "
            "unset CELERY_BROKER_URL to run with the embedded scheduler.",
            file=sys.stderr,
        )
        return 2
    say("Migrating the database and loading demo data...")
    manage(env, "migrate", "--noinput", "-v", "0")
    demo = json.loads(manage(env, "load_demo", "--json").strip().splitlines()[-1])

    output = Output()
    manager = Manager(printer=output)
    for name, command in processes(celery=bool(url)).items():
        manager.add_process(name, command, env=env, cwd=str(HERE))
    watcher = Demo(args, manager, output, demo, celery=bool(url))
    watcher.start()
    # Until every process has stopped: after the demo's result, a signal
    # (SIGTERM to each, SIGKILL 5 s later), or any one of them exiting.
    manager.loop()
    if watcher.result is not None:
        return watcher.result
    if manager.returncode in SIGNALLED:
        return 0
    say(f"A process exited unexpectedly (rc={manager.returncode}); see above.")
    return 1


def main(argv: list[str]) -> int:
    """Entry point: run until done or signalled, every process stopped either way."""
    args = parse_args(argv)
    # honcho reads each process's output in a multiprocessing child, started
    # while the demo thread runs: forking a threaded process can deadlock the
    # child, so those children start from a fresh interpreter instead.
    multiprocessing.set_start_method("spawn")
    try:
        return run(args)
    except KeyboardInterrupt:  # Ctrl-C while preparing, before honcho's loop
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

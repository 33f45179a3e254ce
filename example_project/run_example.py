"""Run the GTS example in one command: ``python3 dev.py example`` from the repository.

It migrates an SQLite database, loads demo data, starts the web server
(daphne, 127.0.0.1:8000) and a scheduler, then has the demo EIC offer a stock
request to driver Ravi with a short timeout (20 s). Ravi says nothing: the
offer expires, the request returns to PENDING, and the EIC's "Driver
Assignment Expired" notification is printed by the log notifier.

The scheduler is embedded (``manage.py expire_assignments --loop``, no
server to install) unless ``CELERY_BROKER_URL`` is set, in the environment or
in ``.env``: then it is ``celery -A backend worker --beat`` against that
broker, the GTS guide's setup. Ctrl-C (or SIGTERM) stops everything.

``--ci-smoke`` runs until the first expiry notification is printed and the
API shows the request back in PENDING, then exits 0 (1 after ``--wait``
seconds without it).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
EXPIRED_TITLE = "Driver Assignment Expired"


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
    """The environment every child runs with: demo timeout, fast sweeps, unbuffered."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "backend.settings"
    env["DRIVER_ASSIGNMENT_TIMEOUT_SECONDS"] = f"{args.timeout:g}"
    env["EXPIRY_SWEEP_SECONDS"] = f"{args.interval:g}"
    env["PYTHONUNBUFFERED"] = "1"
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


class Children:
    """The child processes, their output merged into ours with a prefix each."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()

    def start(self, name: str, args: list[str]) -> None:
        # Same process group: a Ctrl-C in the terminal reaches every child at
        # once (each stops cleanly on SIGINT), even if our parent kills us.
        proc = subprocess.Popen(
            args,
            cwd=HERE,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.procs[name] = proc
        threading.Thread(target=self._pump, args=(name, proc), daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            print(f"[{name}] {line}", flush=True)
            self.lines.put((name, line))

    def exited(self) -> str | None:
        """The name of a child that has exited, if any."""
        return next((n for n, p in self.procs.items() if p.poll() is not None), None)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every child, wait ``grace`` seconds, then SIGKILL what is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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


def wait_for_server(base: str, children: Children, seconds: float = 60.0) -> None:
    """Poll the schema URL until the server answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if children.exited() == "web":
            raise SystemExit("The web server exited; see its output above.")
        try:
            with urllib.request.urlopen(base + "/api/schema/", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise SystemExit(f"The web server did not answer on {base} within {seconds:g}s.")


def banner(
    base: str, demo: dict[str, Any], args: argparse.Namespace, celery: bool
) -> None:
    """Where everything is, and how to log in."""
    mode = (
        "Celery worker + beat (CELERY_BROKER_URL)"
        if celery
        else (f"embedded, expire_assignments --loop --interval {args.interval:g}")
    )
    print("\n" + "=" * 72)
    print(f"GTS example running at {base}/  (Ctrl-C stops everything)")
    print(f"  dispatch pages:      {base}/  (EIC board, driver offers: sign in below)")
    print(f"  API docs (OpenAPI):  {base}/api/docs/     admin: {base}/admin/")
    print(f"  scheduler:           {mode}")
    print(
        f"  driver timeout:      {args.timeout:g} s (DRIVER_ASSIGNMENT_TIMEOUT_SECONDS)"
    )
    print("  demo users (password / API token):")
    for user in demo["users"]:
        print(
            f"    {user['role']:<6} {user['username']:<11} "
            f"{user['password']}  {user['token']}"
        )
    print("=" * 72 + "\n", flush=True)


def offer(base: str, demo: dict[str, Any], driver: str = "ravi") -> dict[str, Any]:
    """The EIC offers the first pending request to a driver, through the API."""
    eic = next(u for u in demo["users"] if u["role"] == "EIC")
    path = f"/api/eic/stock-requests/{demo['pending_request']}/status/"
    body = {"status": "ASSIGNING", "target_driver": demo["drivers"][driver]}
    print(
        "Demo offer, as the EIC (the same call with curl):\n"
        f"  curl -X PATCH {base}{path} -H 'Authorization: Token {eic['token']}' "
        f"-H 'Content-Type: application/json' -d '{json.dumps(body)}'",
        flush=True,
    )
    result = api(base, "PATCH", path, eic["token"], body)
    print(
        f"Offered stock request {result['id']} to {driver}; it expires at "
        f"{result['expires_at']} unless {driver} accepts "
        "(POST /api/driver-trips/accept/).",
        flush=True,
    )
    return result


def request_status(base: str, demo: dict[str, Any], pk: int) -> dict[str, Any]:
    """The stock request as the EIC's API shows it."""
    eic = next(u for u in demo["users"] if u["role"] == "EIC")
    rows = api(base, "GET", "/api/eic/stock-requests/", eic["token"])
    return next(row for row in rows if row["id"] == pk)


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    """Set up, start the children, make the demo offer, watch; the exit status."""
    env = project_env(args)
    url = broker_url()
    if url and not reachable(url):
        print(
            f"CELERY_BROKER_URL is {url!r}, which is not reachable. Start Redis, or "
            "unset CELERY_BROKER_URL to run with the embedded scheduler.",
            file=sys.stderr,
        )
        return 2
    print("Migrating the database and loading demo data...", flush=True)
    manage(env, "migrate", "--noinput", "-v", "0")
    demo = json.loads(manage(env, "load_demo", "--json").strip().splitlines()[-1])
    base = f"http://127.0.0.1:{args.port}"
    children = Children(env)
    try:
        children.start(
            "web",
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(args.port),
                "backend.asgi:application",
            ],
        )
        if url:
            children.start(
                "celery",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "backend",
                    "worker",
                    "--beat",
                    "--loglevel=info",
                    "--pool=solo",
                    "-s",
                    str(HERE / "celerybeat-schedule"),
                ],
            )
        else:
            children.start(
                "scheduler",
                [
                    sys.executable,
                    "manage.py",
                    "expire_assignments",
                    "--loop",
                    "--interval",
                    f"{args.interval:g}",
                ],
            )
        wait_for_server(base, children)
        banner(base, demo, args, celery=bool(url))
        offered = None if args.no_offer else offer(base, demo)
        return watch(args, stop, children, base, demo, offered)
    finally:
        print("Stopping...", flush=True)
        children.stop()


def watch(
    args: argparse.Namespace,
    stop: threading.Event,
    children: Children,
    base: str,
    demo: dict[str, Any],
    offered: dict[str, Any] | None,
) -> int:
    """Follow the children's output until stopped (or, for --ci-smoke, the expiry)."""
    deadline = time.monotonic() + args.wait
    while not stop.is_set():
        if (name := children.exited()) is not None:
            print(f"{name} exited unexpectedly ({children.procs[name].returncode}).")
            return 1
        if args.ci_smoke and time.monotonic() > deadline:
            print(f"smoke: no expiry notification within {args.wait:g}s", flush=True)
            return 1
        try:
            _name, line = children.lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if EXPIRED_TITLE in line and offered is not None:
            row = request_status(base, demo, offered["id"])
            print(
                f"Stock request {row['id']} is {row['status']} again "
                f"(target_driver={row['target_driver']}, "
                f"assignment_mode={row['assignment_mode']}); the EIC was notified.",
                flush=True,
            )
            if args.ci_smoke:
                ok = row["status"] == "PENDING" and row["target_driver"] is None
                print(f"smoke: {'ok' if ok else 'FAILED'}", flush=True)
                return 0 if ok else 1
    return 0


def main(argv: list[str]) -> int:
    """Entry point: run until done or signalled, stopping the children either way."""
    args = parse_args(argv)
    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return run(args, stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

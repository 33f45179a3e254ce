"""What a Celery worker holds per outstanding ETA task, with and without the horizon.

    python bench/eta_memory.py [--counts 10000,50000] [--eta 3600]

Needs Redis on 127.0.0.1:6379 (database 1) and the ``celery`` extra. Celery
fetches an ETA task as soon as it is published and keeps it, unacknowledged,
in the worker's memory until its ETA. This starts a real ``celery worker``
(solo pool) on a fresh queue, then sends offers' ``expire_offer`` tasks
through :class:`~django_assignment_timeout.schedulers.celery.CeleryScheduler`
for deadlines ``--eta`` seconds out, and reads the worker's resident memory
(``VmRSS`` in ``/proc/<pid>/status``) once the worker has fetched them all:

* no horizon (``eta_horizon=None``, the behaviour before the horizon):
  every offer's task is sent; RSS at 0 and at each of ``--counts`` tasks;
* horizon on (the default 900 s), a fresh worker: the same offers send
  nothing, since their deadlines are beyond the horizon (the sweep arms them
  fifteen minutes ahead), and RSS stays at its baseline.

No database is touched: the tasks never run. The last line is
``eta_task_bytes=<float>``, the worker's RSS growth per outstanding ETA task
at the largest count. Takes about five minutes on a busy 2-core machine,
nearly all of it the worker fetching; ``--counts 10000`` takes about one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BACKEND = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
APPS = "tests.support.celery_app"
REDIS_URL = "redis://127.0.0.1:6379/1"


def rss_mb(pid: int) -> float:
    """The process' resident set size in MB (VmRSS is in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def start_worker(queue: str, log: Path) -> subprocess.Popen[bytes]:
    scheduler = {"BACKEND": BACKEND, "OPTIONS": {"app": f"{APPS}.app"}}
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.support.child_settings",
        CHILD_DB_NAME=":memory:",  # never queried: the tasks never run
        CHILD_SETTINGS=json.dumps({"ASSIGNMENT_TIMEOUT_SCHEDULER": scheduler}),
        CHILD_BROKER_URL=REDIS_URL,
        CHILD_QUEUE=queue,
        PYTHONPATH=str(ROOT),
    )
    args = [
        sys.executable, "-m", "celery", "-A", f"{APPS}:app", "worker",
        "--hostname", f"{queue}@%h", "-Q", queue, "--pool", "solo",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=out)


def wait_ready(log: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while "[queues]" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker not ready:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def settled_rss(pid: int, client: object, queue: str, limit: float = 120) -> float:
    """RSS once the queue is drained into the worker and RSS stopped growing."""
    deadline = time.monotonic() + limit
    previous = -1.0
    while time.monotonic() < deadline:
        current = rss_mb(pid)
        if client.llen(queue) == 0 and abs(current - previous) < 0.25:  # type: ignore[attr-defined]
            return current
        previous = current
        time.sleep(1.0)
    raise RuntimeError("the worker did not settle")


def send(
    count: int, horizon: float | None, queue: str, eta: float, first_pk: int
) -> None:
    """``schedule_expiry`` for ``count`` offers due ``eta`` seconds from now."""
    from tests.testapp.models import StockRequest

    from django_assignment_timeout.schedulers.celery import CeleryScheduler

    options = {"app": f"{APPS}.redis_app", "queue": queue, "eta_horizon": horizon}
    scheduler = CeleryScheduler("default", options)
    deadline = datetime.now(timezone.utc) + timedelta(seconds=eta)
    for pk in range(first_pk, first_pk + count):
        scheduler.schedule_expiry(StockRequest, pk, 1, deadline)


def run(
    horizon: float | None, counts: list[int], eta: float, workdir: Path
) -> list[tuple[int, float]]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    queue = f"bench-eta-{uuid.uuid4().hex[:8]}"
    log = workdir / f"{queue}.log"
    worker = start_worker(queue, log)
    points = []
    try:
        wait_ready(log)
        points.append((0, settled_rss(worker.pid, client, queue)))
        sent = 0
        for count in counts:
            send(count - sent, horizon, queue, eta, first_pk=sent + 1)
            sent = count
            points.append((count, settled_rss(worker.pid, client, queue)))
    finally:
        # Warm shutdown: the worker puts its unacked tasks back on the queue,
        # which is then deleted, so nothing is left in Redis.
        worker.terminate()
        worker.wait(120)
        client.delete(queue)
        client.close()
    return points


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10000,50000")
    parser.add_argument("--eta", type=float, default=3600.0)
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import tempfile

    import django

    django.setup()
    workdir = Path(tempfile.mkdtemp(prefix="eta-memory-"))
    started = time.monotonic()
    without = run(None, counts, args.eta, workdir)
    with_horizon = run(900.0, counts, args.eta, workdir)
    base = without[0][1]
    print(f"ETA tasks {args.eta:g} s out, one Celery worker (solo pool) on Redis:")
    print(f"{'outstanding':>12} {'no horizon MB':>14} {'horizon 900 s MB':>17}")
    for (count, mb), (_, flat) in zip(without, with_horizon, strict=True):
        print(f"{count:>12} {mb:>14.1f} {flat:>17.1f}")
    for count, mb in without[1:]:
        print(
            f"{count} tasks: +{mb - base:.1f} MB, {(mb - base) * 2**20 / count:.0f} bytes per task"
        )
    growth = with_horizon[-1][1] - with_horizon[0][1]
    print(f"horizon on: +{growth:.1f} MB for {counts[-1]} offers (none sent)")
    print(f"took {time.monotonic() - started:.0f} s")
    top, top_mb = without[-1]
    print(f"eta_task_bytes={(top_mb - base) * 2**20 / top:.1f}")


if __name__ == "__main__":
    main()

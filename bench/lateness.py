"""How late are offers expired? Precise ETA tasks against a 60-second beat sweep.

    python bench/lateness.py [--offers 1000] [--spread 60] [--interval 60]

Needs Redis on 127.0.0.1:6379 (database 1) and the ``celery`` extra. For each
mode it starts a real ``celery worker --beat`` on a fresh SQLite database,
makes ``--offers`` offers whose deadlines are spread over ``--spread``
seconds, waits until every one has expired, and reports the lateness of each
(the expired event's ``created_at`` minus the offer's deadline, both on the
database clock):

* precise: one ``apply_async(eta=deadline)`` task per offer (beat is idle);
* sweep: no per-offer task, only beat's sweep every ``--interval`` seconds,
  as GTS runs today.

The last line is ``precise_p99_s=<float> sweep_p99_s=<float>``; the target is
a precise p99 under one second. Takes about three minutes; not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BACKEND = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
APPS = "tests.support.celery_app"
REDIS_URL = "redis://127.0.0.1:6379/1"


def configure(db_path: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.support.child_settings",
        TEST_DATABASE="sqlite",
        CHILD_DB_NAME=str(db_path),
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def start_worker(
    queue: str, interval: float, workdir: Path, concurrency: int, deliver: bool
) -> subprocess.Popen:
    env = dict(
        os.environ,
        CHILD_BROKER_URL=REDIS_URL,
        CHILD_QUEUE=queue,
        CHILD_SWEEP_INTERVAL=str(interval),
        CHILD_LOG_LEVEL="INFO",
        CHILD_SETTINGS=json.dumps(
            {
                "ASSIGNMENT_TIMEOUT_SCHEDULER": {
                    "BACKEND": BACKEND,
                    "OPTIONS": {"app": f"{APPS}.app", "deliver": deliver},
                }
            }
        ),
        PYTHONPATH=str(ROOT),
    )
    args = [
        sys.executable, "-m", "celery", "-A", f"{APPS}:app", "worker", "--beat",
        "--hostname", f"{queue}@%h",
        "--schedule", str(workdir / f"beat-{queue}"), "-Q", queue,
        "--pool", "threads" if concurrency > 1 else "solo",
        "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    log = (workdir / f"{queue}.log").open("wb")
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def run_mode(name: str, *, precise: bool, offers: int, spread: float,
             interval: float, workdir: Path, concurrency: int,
             deliver: bool) -> list[float]:  # fmt: skip
    from django.test import override_settings
    from tests.testapp.models import Driver, StockRequest

    from django_assignment_timeout.models import AssignmentEvent

    queue = f"sched-bench-{name}-{uuid.uuid4().hex[:6]}"
    # Beat is idle in precise mode (its first run would be an hour away).
    beat = interval if not precise else 3600
    worker = start_worker(queue, beat, workdir, concurrency, deliver)
    try:
        time.sleep(3)  # let the worker connect before the first deadline
        driver = Driver.objects.create(name=name)
        pks = [StockRequest.objects.create(note=name).pk for _ in range(offers)]
        setting = {
            "BACKEND": BACKEND,
            "OPTIONS": {"app": f"{APPS}.redis_app", "queue": queue, "precise": precise},
        }
        with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=setting):
            for i, pk in enumerate(pks):
                StockRequest.objects.offer(pk, driver, timeout=5 + spread * i / offers)
        events = AssignmentEvent.objects.filter(object_pk__in=[str(pk) for pk in pks])
        expired = events.filter(kind="expired")
        limit = time.monotonic() + spread + 2 * interval + 60
        while expired.count() < offers and time.monotonic() < limit:
            time.sleep(1)
        rows = list(expired.values_list("created_at", "deadline"))
    finally:
        worker.terminate()
        worker.wait(30)
        _delete_queue(queue)
    if len(rows) < offers:
        raise SystemExit(f"{name}: only {len(rows)} of {offers} offers expired")
    if events.filter(kind="expired").count() != offers:
        raise SystemExit(f"{name}: duplicate expiries")
    return sorted((created - deadline).total_seconds() for created, deadline in rows)


def _delete_queue(queue: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.delete(queue)
    client.close()


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument(
        "--concurrency", type=int, default=4, help="worker threads (1: solo pool)"
    )
    parser.add_argument(
        "--no-deliver",
        action="store_true",
        help="no delivery task per expiry (isolates expiry from the relay's cost)",
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sched-bench-") as tmp:
        workdir = Path(tmp)
        configure(workdir / "bench.sqlite3")
        p99 = {}
        for name, precise in (("precise", True), ("sweep", False)):
            lateness = run_mode(
                name,
                precise=precise,
                offers=options.offers,
                spread=options.spread,
                interval=options.interval,
                workdir=workdir,
                concurrency=options.concurrency,
                deliver=not options.no_deliver,
            )
            p99[name] = percentile(lateness, 99)
            print(
                f"{name:8s} n={len(lateness)} p50={percentile(lateness, 50):.3f}s "
                f"p99={p99[name]:.3f}s max={lateness[-1]:.3f}s "
                f"mean={statistics.fmean(lateness):.3f}s min={lateness[0]:.3f}s",
                flush=True,
            )
        print(
            "ratio sweep_p99/precise_p99 = "
            f"{p99['sweep'] / max(p99['precise'], 1e-6):.1f}"
        )
        print(f"precise_p99_s={p99['precise']:.3f} sweep_p99_s={p99['sweep']:.3f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Dispatch chains: the library's cascade against the one an adopter writes today.

    python bench/dispatch.py [--chains 10000] [--candidates 3] [--repeat 1]
                             [--latency-chains 200] [--latency-timeout 2]
                             [--no-celery]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres), and the redis-server
binary for the Celery figure (it starts a Redis of its own on a free port,
never the shared one). It creates its own database, measures, and drops it.
Each side runs the same cascade: every assignment is offered to
``--candidates`` drivers in turn, and each lets the offer expire. One round
puts every open deadline in the past, sweeps, and runs the notification
relay until nothing is left, so both sides pay for the same expiries, events
and notifications:

* the library: ``tests.testapp.Job`` with ``Sequential(max_attempts=3)``;
  the relay takes each step (the next offer, or the ``exhausted`` event);
* the hand-built chain, the same work as an adopter writes it today: a
  ``StockRequest`` (no policy) and an ``assignment_expired`` receiver that
  offers each expired request to the first driver it was not yet offered to.
  It is not durable (a receiver dies with its process) and writes no
  ``exhausted`` event, so it is the lighter of the two.

A chain step is one ended offer turned into the next offer or into the end
of the chain: ``--chains`` x ``--candidates`` of them per side. Each speed
is the best of ``--repeat`` runs, the sides alternating, each on emptied
tables.

Then the latency of one step in service: ``expire_assignments --loop`` (the
deadline-aware command loop, woken by ``NOTIFY``) as a child process, and
``--latency-chains`` chains of ``--latency-timeout`` s offers started here.
Measured on the database clock, from each ended offer's deadline, and from
its ``expired`` event, to the next ``offered`` event of its chain. Then the
same with the Celery scheduler instead of the loop (unless ``--no-celery``):
a real worker with embedded beat (``tests.system.conftest.start_worker``:
thread pool of 4, a beat sweep every 2 s) on that private Redis, each
offer's precise expiry an ETA task, the relay a ``deliver`` task sent after
each event; this process starts the chains through the same scheduler. The
worker's task counts are printed with it.

Last, ``--broadcast-rounds`` broadcast rounds (``tests.testapp.Load``, ten
candidates a round): ten threads, each on its own connection, accept each
round at the same barrier (:mod:`tests.support.broadcast_race`, the race
test's harness). A double win is a round with more than one accept that
returned; the checker's other findings are printed beside it.

The last line is ``cascade_vs_receiver=<float> next_offer_p99_s=<float>
broadcast_double_wins=<int>`` (the loop's p99 from the deadline).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.chain_crash import POOL, offer_next_by_hand  # noqa: E402


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(statement)


def child_env(db_name: str, settings: dict[str, Any]) -> dict[str, str]:
    """The environment of this process's Django and of the loop it starts."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.support.child_settings",
        TEST_DATABASE="postgresql",
        CHILD_DB_NAME=db_name,
        CHILD_APP_NAME="bench-dispatch",
        CHILD_SETTINGS=json.dumps(settings),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    return env


# -- the two cascades ---------------------------------------------------------------


def empty_tables() -> None:
    from tests.testapp.models import Job, StockRequest

    from django_assignment_timeout.dispatch_chain import DispatchChain, DispatchTurn
    from django_assignment_timeout.models import AssignmentEvent

    for model in (AssignmentEvent, DispatchChain, DispatchTurn, Job, StockRequest):
        model._base_manager.all().delete()
    from django_assignment_timeout.notifiers.locmem import outbox

    outbox.clear()


def cascade(model: Any, count: int, start: Any, **fields: Any) -> tuple[float, int]:
    """Start ``count`` chains, then time the rounds until every offer ended."""
    from django.db import connection

    from django_assignment_timeout.delivery import deliver_pending
    from django_assignment_timeout.models import AssignmentEvent
    from django_assignment_timeout.sweep import sweep
    from django_assignment_timeout.testing import make_due

    rows = model.objects.bulk_create(model(**fields) for _ in range(count))
    for row in rows:
        start(row)
    drain(deliver_pending, AssignmentEvent)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    steps = 0
    started = time.perf_counter()
    while make_due(model):
        steps += sweep([model]).expired_count
        drain(deliver_pending, AssignmentEvent)
    return time.perf_counter() - started, steps


def drain(deliver_pending: Any, events: Any) -> None:
    while True:
        result = deliver_pending()
        if not result.has_more and not events.objects.undelivered().exists():
            return


def library_side(count: int) -> tuple[float, int]:
    from tests.testapp.models import Job

    return cascade(Job, count, lambda row: row.start_dispatch(), pool=POOL)


def hand_side(count: int) -> tuple[float, int]:
    from tests.testapp.models import Driver, StockRequest

    from django_assignment_timeout import signals

    first = Driver.objects.filter(name__startswith=POOL).order_by("pk").first()
    signals.assignment_expired.connect(offer_next_by_hand, dispatch_uid="bench-hand")
    try:
        return cascade(
            StockRequest, count, lambda row: StockRequest.objects.offer(row.pk, first)
        )
    finally:
        signals.assignment_expired.disconnect(dispatch_uid="bench-hand")


def check_chains(count: int, candidates: int) -> None:
    """Both sides made every step once: ``candidates`` offers per assignment."""
    from django.db.models import Count

    from django_assignment_timeout.models import AssignmentEvent

    offers = (
        AssignmentEvent.objects.filter(kind="offered")
        .values("object_pk")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    per_row = set(offers)
    assert len(offers) == count and per_row == {candidates}, (len(offers), per_row)


# -- latency in service ------------------------------------------------------------


@contextlib.contextmanager
def command_loop(env: dict[str, str]) -> Iterator[None]:
    """``expire_assignments --loop`` as a child process."""
    loop = subprocess.Popen(
        [sys.executable, "-m", "django", "expire_assignments", "--loop"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)  # the loop's first sweep, then it listens
        yield
    finally:
        loop.terminate()
        loop.wait(30)


@contextlib.contextmanager
def celery_worker(env: dict[str, str]) -> Iterator[None]:
    """A private redis-server and a Celery worker with embedded beat on it (the
    system tests' own helpers); this process's offers go through the Celery
    scheduler on the same broker."""
    from django.test import override_settings
    from tests.support.children import Children
    from tests.system.conftest import CELERY, OwnRedis, start_worker

    from django_assignment_timeout.schedulers.protocol import (
        DELIVER,
        EXPIRE_OFFER,
        SWEEP,
    )

    assert shutil.which("redis-server"), "Celery needs redis-server (or --no-celery)"
    scheduler = {"BACKEND": CELERY, "OPTIONS": {"app": "tests.support.celery_app.app"}}
    settings = {
        **json.loads(env["CHILD_SETTINGS"]),
        "ASSIGNMENT_TIMEOUT_SCHEDULER": scheduler,
    }
    with tempfile.TemporaryDirectory() as workdir:
        children = Children(Path(workdir))
        redis = OwnRedis(children, Path(workdir))
        # tests.support.celery_app reads its broker from the environment when
        # it is first imported: by the scheduler here, and in the worker.
        os.environ["CHILD_BROKER_URL"] = redis.url
        try:
            redis.start()
            worker = start_worker(
                children, "bench-dispatch-celery", redis.url, settings
            )
            limit = time.monotonic() + 120
            while " ready." not in worker.stderr():
                assert worker.alive(), worker.report()
                assert time.monotonic() < limit, worker.report()
                time.sleep(0.2)
            with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=scheduler):
                yield
            ran = Counter(re.findall(r"Task (\S+)\[[^]]+\] succeeded", worker.stderr()))
            idle = worker.stderr().count("'delivered': 0,")
            print(
                f"Celery worker ran {ran[EXPIRE_OFFER]} expire_offer, "
                f"{ran[DELIVER]} deliver ({idle} of them found nothing to "
                f"deliver) and {ran[SWEEP]} sweep tasks"
            )
        finally:
            for child in reversed(children.started):
                child.stop(30)


def latency(
    service: Any, env: dict[str, str], chains: int, timeout: float
) -> dict[str, float]:
    """Seconds from an ended offer to its chain's next offer, with ``service`` running."""
    from tests.testapp.models import Job

    from django_assignment_timeout.dispatch_chain import DispatchChain
    from django_assignment_timeout.models import AssignmentEvent

    empty_tables()
    with service(env):
        rows = Job.objects.bulk_create(Job(pool=POOL) for _ in range(chains))
        for row in rows:
            row.start_dispatch()
            time.sleep(timeout / chains)  # deadlines spread over one timeout
        limit = time.monotonic() + timeout * 3 + 60
        while DispatchChain.objects.filter(state="running").exists():
            assert time.monotonic() < limit, "the chains did not end"
            time.sleep(0.5)
    events = {
        (e.object_pk, e.attempt, e.kind): e
        for e in AssignmentEvent.objects.filter(kind__in=("offered", "expired"))
    }
    from_deadline, from_expiry = [], []
    for (pk, attempt, kind), event in events.items():
        following = events.get((pk, attempt + 1, "offered"))
        if kind != "expired" or following is None:
            continue
        from_deadline.append((following.created_at - event.deadline).total_seconds())
        from_expiry.append((following.created_at - event.created_at).total_seconds())
    assert len(from_deadline) == chains * 2, len(from_deadline)
    return {
        "steps": len(from_deadline),
        "deadline_p50_s": percentile(from_deadline, 50),
        "deadline_p99_s": percentile(from_deadline, 99),
        "expiry_p50_s": percentile(from_expiry, 50),
        "expiry_p99_s": percentile(from_expiry, 99),
    }


def show(service: str, waited: dict[str, float]) -> None:
    print(
        f"next offer with {service}, over {waited['steps']} steps: "
        f"from the deadline p50 {waited['deadline_p50_s']} s, p99 "
        f"{waited['deadline_p99_s']} s; from the expiry p50 "
        f"{waited['expiry_p50_s']} s, p99 {waited['expiry_p99_s']} s"
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))], 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--latency-chains", type=int, default=200)
    parser.add_argument("--latency-timeout", type=float, default=2.0)
    parser.add_argument(
        "--no-celery", action="store_true", help="skip the Celery latency figure"
    )
    parser.add_argument("--broadcast-rounds", type=int, default=500)
    args = parser.parse_args()

    db_name = f"bench_dispatch_{os.getpid()}"
    admin_sql(f"CREATE DATABASE {db_name}")
    # The loop runs the relay with the test suite's locmem notifier; every
    # Job offer lasts --latency-timeout seconds (the model reads the setting).
    env = child_env(db_name, {"TESTAPP_JOB_TIMEOUT_SECONDS": args.latency_timeout})
    os.environ.update(env)
    try:
        subprocess.run(
            [sys.executable, "-m", "django", "migrate", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        import django

        django.setup()
        from tests.testapp.models import Driver

        Driver.objects.bulk_create(
            Driver(name=f"{POOL}{n}") for n in range(args.candidates)
        )
        best = {"library": 0.0, "receiver": 0.0}
        for _ in range(args.repeat):
            for side, run in (("receiver", hand_side), ("library", library_side)):
                empty_tables()
                seconds, steps = run(args.chains)
                check_chains(args.chains, args.candidates)
                assert steps == args.chains * args.candidates, (side, steps)
                rate = steps / seconds
                print(f"{side}: {steps} chain steps in {seconds:.1f} s = {rate:.0f}/s")
                best[side] = max(best[side], rate)
        ratio = best["library"] / best["receiver"]
        print(f"cascade: library {best['library']:.0f}/s, receiver "
              f"{best['receiver']:.0f}/s = {ratio:.2f}x")  # fmt: skip
        waited = latency(command_loop, env, args.latency_chains, args.latency_timeout)
        show("the command loop", waited)
        if not args.no_celery:
            show(
                "Celery",
                latency(celery_worker, env, args.latency_chains, args.latency_timeout),
            )
        double_wins = broadcast(args.broadcast_rounds)
    finally:
        from django.db import connections

        connections.close_all()
        admin_sql(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
    print(
        f"cascade_vs_receiver={ratio:.2f} "
        f"next_offer_p99_s={waited['deadline_p99_s']} "
        f"broadcast_double_wins={double_wins}"
    )


def broadcast(rounds: int) -> int:
    """Race ``rounds`` broadcast rounds; print them; the rounds won twice or more."""
    from django.test import override_settings
    from tests.support import broadcast_race

    began = time.monotonic()
    # Rounds are raced a batch after they open: none may expire meanwhile.
    with override_settings(TESTAPP_JOB_TIMEOUT_SECONDS=3600):
        result = broadcast_race.race_rounds(rounds, broadcast_race.library_accept)
    seconds = time.monotonic() - began
    double = sum(len(won) > 1 for won in result.winners.values())
    problems = broadcast_race.double_wins(result)
    print(
        f"broadcast: {len(result.pks)} rounds of {broadcast_race.CANDIDATES} "
        f"simultaneous accepts in {seconds:.1f} s: {double} double wins, "
        f"{sum(result.refusals.values())} refusals {dict(result.refusals)}, "
        f"{len(problems)} other findings {problems[:3]}"
    )
    return double


if __name__ == "__main__":
    main()

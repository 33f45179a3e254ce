"""Dispatch chains through a 20 s broker outage, driven by a real Celery worker.

A worker with embedded beat (``start_worker``: thread pool, beat sweep every
2 s) on a private redis-server, never the shared one, runs the library's
jobs: each offer's precise expiry ETA task, the beat sweep and the relay,
which takes each chain step (``advance_chains``) before it delivers the
ending event. This process starts ``CHAINS`` chains of ``Job``
(``Sequential``, three candidates, ``TIMEOUT`` s offers) through the Celery
scheduler. Once a quarter of them took their first step, Redis is SIGKILLed:
no persistence, so every queued and reserved task, the ETA tasks too, is
gone. While it is down, a few open offers are accepted (the API needs no
broker) and every other open deadline passes. Redis comes back empty after
20 s, and the first expiry after that, the beat sweep of the backlog (every
offer whose deadline passed in the outage), is the one crash: the worker
dies right after its expiry commits (SIGKILL of its whole group:
``tests.support.chain_worker``), and is restarted as a supervisor would.

Then every chain completed: each candidate offered once, in order, up to the
accepted one or the chain's one ``exhausted`` event; never a second offer
for a step; every expiry notification sent at least once and none more than
twice (at most one duplicate for the crash). The same run with the chain an
adopter writes today (``chain_crash.offer_next_by_hand``, an
``assignment_expired`` receiver in the worker, on ``StockRequest``) fails
the same checker: the crash took the backlog's steps with it.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from django_assignment_timeout.dispatch_chain import DispatchChain
from django_assignment_timeout.exceptions import TransitionError
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.options import ATTEMPT, EXPIRES_AT, options_for
from tests.support import celery_app
from tests.support.chain_crash import POOL
from tests.support.children import Children
from tests.support.polling import wait_for
from tests.system.conftest import CELERY, OwnRedis, start_worker, worker_settings
from tests.system.invariants import violations
from tests.system.notifiers import sends
from tests.system.test_dispatch_crashes import delivered_once_or_twice, offers_per_row
from tests.testapp.models import Driver, Job, StockRequest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    # Worker starts (two), the outage and the recovery: about 60 s.
    pytest.mark.timeout(240),
]

CHAINS = 40
CANDIDATES = 3
TIMEOUT = 4.0  # every offer's, so open deadlines all pass during the outage
OUTAGE = 20.0
ACCEPTS = 3  # open offers accepted while the broker is down


@dataclass
class Outage:
    """What one run left: the drivers, the rows accepted (at which attempt),
    the worker's restarts (the crash, and any death of its own), its figures."""

    drivers: list[Driver]
    accepted: dict[str, int]
    restarts: int
    sends_log: str
    figures: dict[str, Any]


def run_outage(
    model: Any,
    start: Any,
    *,
    hand: bool,
    children: Children,
    redis: OwnRedis,
    tmp_path: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    done: Any,
) -> Outage:
    """Start the chains, kill the broker mid-chain for OUTAGE s, wait for ``done``."""
    sends_log = str(tmp_path / "sends.log")
    flag = tmp_path / "crash"
    worker_conf = {
        **worker_settings(tmp_path / "sends.log"),
        "ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL": 2.0,
        # A relay killed mid-batch leaves its claim; it runs out quickly.
        "ASSIGNMENT_TIMEOUT_DELIVERY_LEASE": 5.0,
        "TESTAPP_JOB_TIMEOUT_SECONDS": TIMEOUT,
        "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS": TIMEOUT,
        "TESTAPP_CRASH_FLAG": str(flag),
        "TESTAPP_HAND_CHAIN": hand,
    }
    monkeypatch.setenv("CHILD_IMPORTS", "tests.support.chain_worker")
    worker = start_worker(children, "worker", redis.url, worker_conf)
    # This process publishes with its own app on the same broker, with no
    # publish retries (as in test_broker_failure): a trigger sent while Redis
    # is down fails after the client's connection retries and is only logged.
    monkeypatch.setattr(
        celery_app,
        "producer",
        celery_app.make_app(redis.url, reconnect_forever=True),
        raising=False,
    )
    settings.ASSIGNMENT_TIMEOUT_SCHEDULER = {
        "BACKEND": CELERY,
        "OPTIONS": {"app": "tests.support.celery_app.producer", "retry": False},
    }
    settings.ASSIGNMENT_TIMEOUT_NOTIFIERS = worker_conf["ASSIGNMENT_TIMEOUT_NOTIFIERS"]
    settings.TESTAPP_JOB_TIMEOUT_SECONDS = TIMEOUT
    settings.DRIVER_ASSIGNMENT_TIMEOUT_SECONDS = TIMEOUT
    drivers = [Driver.objects.create(name=f"{POOL}{n}") for n in range(CANDIDATES)]
    wait_for(lambda: " ready." in worker.stderr(), timeout=90, what="the worker")

    rows = model.objects.bulk_create(model() for _ in range(CHAINS))
    for row in rows:  # the first deadlines spread over half a timeout
        start(row, drivers[0])
        time.sleep(TIMEOUT / 2 / CHAINS)
    steps = AssignmentEvent.objects.filter(kind="offered", attempt=2)
    wait_for(lambda: steps.count() >= CHAINS // 4, timeout=60, what="the first steps")

    redis.kill()
    killed_at, killed_wall = time.monotonic(), time.time()
    steps_at_kill = steps.count()
    opts = options_for(model)
    open_rows = model.objects.filter(**{opts.status_attname: opts.offered})
    accepted = {}
    # The latest deadlines first: each accept's delivery trigger takes ~2 s
    # to fail (the publish's connection retries).
    for pk, attempt, assignee in open_rows.order_by(f"-{EXPIRES_AT}").values_list(
        "pk", ATTEMPT, opts.assignee_attname
    )[:ACCEPTS]:
        with contextlib.suppress(TransitionError):  # too late for that one
            model.objects.accept(pk, assignee)
            accepted[str(pk)] = attempt
    time.sleep(max(0.0, OUTAGE - (time.monotonic() - killed_at)))
    # Nothing runs now (the worker has no broker): the next expiry is the
    # backlog's, once Redis is back.
    flag.write_text("the broker is back\n")
    redis.start()
    outage = time.monotonic() - killed_at

    # A dead worker is restarted, as a process supervisor would: the crash
    # above, and any death of Celery/kombu on the broker loss (see
    # test_broker_failure), counted.
    restarts = 0

    def recovered() -> bool:
        nonlocal restarts, worker
        if not worker.alive():
            restarts += 1
            worker = start_worker(
                children, f"worker-{restarts}", redis.url, worker_conf
            )
        return (
            (tmp_path / "crash.claimed").exists()
            and done()
            and not AssignmentEvent.objects.undelivered().exists()
        )

    wait_for(
        recovered, 120, "every chain ended and every event delivered", interval=0.2
    )
    figures = {
        "chains": CHAINS,
        "first_steps_at_kill": steps_at_kill,
        "accepted_in_outage": len(accepted),
        "outage_s": round(outage, 1),
        "recovered_in_s": round(time.monotonic() - killed_at - outage, 1),
        "worker_restarts": restarts,
        "sends_repeated": sum(n - 1 for n in sends(sends_log).values()),
    }
    when, *crash = (tmp_path / "crash.claimed").read_text().split()
    # pid, model and how many rows the killed expiry ended, and when.
    figures["crash"] = " ".join(crash)
    figures["crash_after_kill_s"] = round(float(when) - killed_wall, 1)
    print(json.dumps(figures))
    return Outage(drivers, accepted, restarts, sends_log, figures)


def chain_problems(model: Any, run: Outage) -> list[str]:
    """Each row offered to the candidates once each, in order: up to the
    accepted offer, else to all of them."""
    problems = []
    for pk, made in offers_per_row(model).items():
        upto = run.accepted.get(pk, CANDIDATES)
        expected = [(n + 1, str(d.pk)) for n, d in enumerate(run.drivers[:upto])]
        if made != expected:
            problems.append(f"{pk}: offers {made}, not {expected}")
    return problems


def test_every_chain_completes_through_a_20s_broker_outage_and_a_crash(
    children, own_redis, tmp_path, settings, monkeypatch
):
    def done() -> bool:
        return not DispatchChain.objects.filter(state="running").exists()

    run = run_outage(
        Job,
        lambda row, _first: row.start_dispatch(),
        hand=False,
        children=children,
        redis=own_redis,
        tmp_path=tmp_path,
        settings=settings,
        monkeypatch=monkeypatch,
        done=done,
    )
    assert run.restarts >= 1  # the crash, at least
    assert run.accepted  # an offer accepted in the outage ended its chain
    assert chain_problems(Job, run) == []
    assert violations(Job) == []
    ended = dict(DispatchChain.objects.values_list("object_pk", "state").iterator())
    assert ended == {
        str(pk): "accepted" if str(pk) in run.accepted else "exhausted"
        for pk in Job.objects.values_list("pk", flat=True)
    }
    exhausted = list(
        AssignmentEvent.objects.filter(kind="exhausted").values_list(
            "object_pk", flat=True
        )
    )
    assert sorted(exhausted) == sorted(p for p, s in ended.items() if s == "exhausted")
    if run.restarts == 1:
        assert delivered_once_or_twice(run.sends_log) == []
    else:  # the worker also died of the broker loss: one more duplicate each
        assert _at_least_once(run.sends_log, 1 + run.restarts) == []


def test_the_checker_flags_a_receiver_chain_through_the_same_outage(
    children, own_redis, tmp_path, settings, monkeypatch
):
    opts = options_for(StockRequest)

    def done() -> bool:
        return not StockRequest.objects.filter(
            **{opts.status_attname: opts.offered}
        ).exists()

    run = run_outage(
        StockRequest,
        lambda row, first: StockRequest.objects.offer(row.pk, first),
        hand=True,
        children=children,
        redis=own_redis,
        tmp_path=tmp_path,
        settings=settings,
        monkeypatch=monkeypatch,
        done=done,
    )
    # Every row the killed expiry ended (the backlog), and any that another thread
    # of the worker had just expired, was never offered on: its step died
    # with the process.
    problems = chain_problems(StockRequest, run)
    assert len(problems) >= int(run.figures["crash"].split()[-1]) > 0, problems
    # The lifecycle itself held: the steps were lost, nothing else.
    assert violations(StockRequest) == []


def _at_least_once(sends_log: str, most: int) -> list[str]:
    """``delivered_once_or_twice`` for ``most - 1`` crashes."""
    sent = sends(sends_log)
    return [
        f"event {pk} ({kind}) sent {sent.get(pk, 0)} times"
        for pk, kind in AssignmentEvent.objects.values_list("pk", "kind")
        if sent.get(pk, 0) > most or (kind == "expired" and not sent.get(pk))
    ]

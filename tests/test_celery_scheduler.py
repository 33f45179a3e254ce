"""The Celery backend: beat entry, checks, eager, broker down, rollback, workers.

The Celery guide's own project (its blocks, a real worker and beat) is run by
tests/docs/test_guide_celery.py.
"""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
from celery.signals import task_postrun
from django.db import transaction
from django.test import override_settings

from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.schedulers import get_scheduler
from django_assignment_timeout.schedulers.celery import CeleryScheduler, beat_schedule
from django_assignment_timeout.schedulers.celery import tasks as celery_tasks
from django_assignment_timeout.testing import make_due
from tests.support.assertions import expired_events, status
from tests.support.celery_app import RABBITMQ_URL, REDIS_URL
from tests.support.children import run_python
from tests.support.guide_project import project_env
from tests.support.polling import wait_for
from tests.testapp.models import StockRequest

BACKEND = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
APPS = "tests.support.celery_app"


def celery_settings(app: str, **options):
    return override_settings(
        ASSIGNMENT_TIMEOUT_SCHEDULER={
            "BACKEND": BACKEND,
            "OPTIONS": {"app": f"{APPS}.{app}", **options},
        }
    )


def test_beat_schedule_is_a_sweep_and_an_arm_entry_with_stable_names():
    entries = beat_schedule()
    assert entries == {
        "assignment-timeout-sweep": {
            "task": "assignment_timeout.sweep",
            "schedule": 60.0,
            # The arm entry arms: the sweep must not add a burst of its own.
            "kwargs": {"interval": 60.0, "arm": False},
            "options": {"expires": 60.0},
        },
        "assignment-timeout-arm": {
            "task": "assignment_timeout.arm",
            "schedule": 5.0,
            "kwargs": {"interval": 5.0},
            "options": {"expires": 5.0},
        },
    }
    custom = beat_schedule(15, queue="assignments", arm_interval=2)
    sweep, arm = custom["assignment-timeout-sweep"], custom["assignment-timeout-arm"]
    assert sweep["schedule"] == 15.0
    assert sweep["options"] == {"expires": 15.0, "queue": "assignments"}
    assert arm["schedule"] == 2.0
    assert arm["kwargs"] == {"interval": 2.0}  # sizes the arming window
    assert arm["options"] == {"expires": 2.0, "queue": "assignments"}


def test_beat_schedule_reads_arm_interval_from_the_scheduler_options():
    config = {"BACKEND": BACKEND, "OPTIONS": {"arm_interval": "3"}}
    with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=config):
        assert beat_schedule()["assignment-timeout-arm"]["schedule"] == 3.0
    bad = {"BACKEND": BACKEND, "OPTIONS": {"arm_interval": 0}}
    with (
        override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=bad),
        pytest.raises(ConfigurationError, match="arm_interval"),
    ):
        beat_schedule()
    with pytest.raises(ConfigurationError, match="arm_interval"):
        beat_schedule(arm_interval=-1)


def test_task_names_are_stable():
    assert celery_tasks.sweep.name == "assignment_timeout.sweep"
    assert celery_tasks.arm.name == "assignment_timeout.arm"
    assert celery_tasks.expire_offer.name == "assignment_timeout.expire_offer"
    assert celery_tasks.deliver.name == "assignment_timeout.deliver"


def test_checks():
    assert (
        CeleryScheduler("default", {"app": f"{APPS}.redis_app", "queue": "q"}).check()
        == []
    )
    [bad_app] = CeleryScheduler("default", {"app": "tests.nope.app"}).check()
    assert bad_app.id == "assignment_timeout.E023"
    [not_an_app] = CeleryScheduler("default", {"app": f"{APPS}.REDIS_URL"}).check()
    assert not_an_app.id == "assignment_timeout.E023"
    [unknown] = CeleryScheduler("default", {"queues": "q"}).check()
    assert unknown.id == "assignment_timeout.E021"


@pytest.mark.django_db(transaction=True)
def test_eager_mode_runs_the_precise_task_at_once_and_it_does_not_expire_early(
    stock_request, driver
):
    runs = []

    def record(sender, retval, **kwargs):
        runs.append((sender.name, retval))

    task_postrun.connect(record, weak=False)
    try:
        with celery_settings("eager_app"):
            stock_request.offer(driver)
    finally:
        task_postrun.disconnect(record)
    expiry = [
        retval for name, retval in runs if name == "assignment_timeout.expire_offer"
    ]
    assert len(expiry) == 1, runs
    assert expiry[0]["expired"] is False
    assert expiry[0]["reason"] == "offer_not_due"
    assert "assignment_timeout.deliver" in [name for name, _ in runs]
    assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 1)
    assert expired_events(StockRequest, stock_request.pk) == 0


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_offer_time_offer_succeeds_and_the_sweep_expires_it_later(
    stock_request, driver
):
    started = time.monotonic()
    with celery_settings("down_app"):
        event = stock_request.offer(driver)
    elapsed = time.monotonic() - started
    assert event.attempt == 1
    assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 1)
    assert elapsed < 15, f"offer waited {elapsed:.1f}s for a dead broker"
    make_due(StockRequest, stock_request.pk)
    # The beat sweep, run as the worker would run it.
    assert celery_tasks.sweep.apply().get() == {"expired_count": 1}
    assert expired_events(StockRequest, stock_request.pk) == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_rollback_of_the_offering_transaction_sends_no_task(stock_request, driver):
    import redis

    queue = f"sched-rollback-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with celery_settings("redis_app", queue=queue):
            with pytest.raises(RuntimeError), transaction.atomic():
                stock_request.offer(driver)
                raise RuntimeError("the dispatcher's request failed")
            assert client.llen(queue) == 0
            assert status(StockRequest, stock_request.pk) == ("PENDING", 0)
            # Control: a committed offer does send (expire_offer and deliver).
            stock_request.offer(driver)
            assert client.llen(queue) == 2
    finally:
        client.delete(queue)
        client.close()


def _delete_queue(broker_url: str, queue: str) -> None:
    from kombu import Connection

    # Best effort: the queue may never have been declared.
    with (
        Connection(broker_url, connect_timeout=2) as conn,
        contextlib.suppress(Exception),
    ):
        conn.default_channel.queue_delete(queue)


BROKERS = [
    pytest.param("redis", REDIS_URL, "redis_app", marks=pytest.mark.redis, id="redis"),
    pytest.param(
        "rabbitmq",
        RABBITMQ_URL,
        "rabbitmq_app",
        marks=pytest.mark.rabbitmq,
        id="rabbitmq",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("broker", "broker_url", "producer_app"), BROKERS)
@pytest.mark.django_db(transaction=True)
def test_worker_with_beat_expires_offers_left_alone_exactly_once(
    tmp_path, children, driver, broker, broker_url, producer_app
):
    """One worker (--beat, sweep every second): a precise offer and a swept one."""
    queue = f"sched-{broker}-{uuid.uuid4().hex[:8]}"
    precise = StockRequest.objects.create()
    swept = StockRequest.objects.create()
    # Left alone with no precise task: only beat's sweep can expire it.
    with celery_settings(producer_app, queue=queue, precise=False):
        swept.offer(driver)
    make_due(StockRequest, swept.pk)
    args = [
        "-m", "celery", "-A", f"{APPS}:app", "worker", "--beat",
        "--hostname", f"{queue}@%h",
        "--schedule", str(tmp_path / "beat-schedule"), "--pool", "solo", "-Q", queue,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO",
    ]  # fmt: skip
    worker = children.python(
        "worker",
        *args,
        broker_url=broker_url,
        queue=queue,
        sweep_interval=1,
        log_level="INFO",
        settings={
            "ASSIGNMENT_TIMEOUT_SCHEDULER": {
                "BACKEND": BACKEND,
                "OPTIONS": {"app": f"{APPS}.app"},
            }
        },
    )
    try:
        with worker:
            wait_for(lambda: expired_events(StockRequest, swept.pk), 60, "beat sweep")
            with celery_settings(producer_app, queue=queue):
                event = precise.offer(driver, timeout=2)
            wait_for(
                lambda: expired_events(StockRequest, precise.pk), 30, "precise expiry"
            )
            # Let beat run a few more sweeps: nothing may be expired twice.
            wait_for(
                lambda: worker.output().count("'expired_count': 0") >= 2, 15, "sweeps"
            )
    finally:
        _delete_queue(broker_url, queue)
    output = worker.output()
    # The precise task ran in the worker (beat may, rarely, win the race to it).
    assert "Task assignment_timeout.expire_offer[" in output
    assert "succeeded" in output
    assert expired_events(StockRequest, swept.pk) == 1
    assert expired_events(StockRequest, precise.pk) == 1
    assert status(StockRequest, precise.pk) == ("PENDING", 1)
    expired_at = precise.assignment_events().get(kind="expired").created_at
    assert expired_at >= event.deadline


def test_scheduler_loaded_from_settings_is_the_celery_backend():
    with celery_settings("redis_app", queue="q", precise=False):
        scheduler = get_scheduler()
        assert isinstance(scheduler, CeleryScheduler)
        assert scheduler.supports_precise_expiry and scheduler.supports_periodic_sweep


def test_importing_the_celery_integration_touches_no_settings():
    """What a project's celery.py imports works with no settings configured at all."""
    env = project_env()  # no DJANGO_SETTINGS_MODULE: any settings read would raise
    code = (
        "from django_assignment_timeout.schedulers.celery import beat_schedule\n"
        "import django.conf, sys\n"
        "assert not django.conf.settings.configured\n"
        "assert not any(name.endswith('.models') for name in sys.modules"
        " if name.startswith('django_assignment_timeout')), sorted(sys.modules)\n"
    )
    result = run_python("-c", code, env=env, timeout=60)
    assert result.returncode == 0, result.stderr

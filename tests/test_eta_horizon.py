"""The ETA horizon: Celery and Huey send per-offer tasks for near deadlines only.

Far deadlines are left to the sweep, which arms their ETA tasks once they come
within the horizon; every ETA task carries ``expires``; checks E045 / E046
keep the horizon a positive number of seconds below the broker's
``visibility_timeout``. Against a real Redis (what the broker received) and a
real worker (what it ran).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings
from django.utils import timezone

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.options import EXPIRES_AT, STARTED_AT
from django_assignment_timeout.schedulers.arming import upcoming_offers
from django_assignment_timeout.schedulers.celery import CeleryScheduler
from django_assignment_timeout.schedulers.celery import tasks as celery_tasks
from django_assignment_timeout.schedulers.celery.backend import visibility_timeout
from django_assignment_timeout.schedulers.horizon import (
    DEFAULT_ETA_HORIZON,
    arming_window,
    task_expires,
    within_horizon,
)
from django_assignment_timeout.schedulers.huey import HueyScheduler
from django_assignment_timeout.testing import make_due
from tests.support import celery_app
from tests.support.assertions import expired_events, status
from tests.support.celery_app import REDIS_URL, make_app
from tests.support.polling import wait_for
from tests.testapp.models import StockRequest

BACKEND = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
APPS = "tests.support.celery_app"


def ids(messages) -> list[str]:
    return [message.id for message in messages]


# --- the rule -------------------------------------------------------------


def test_within_horizon_compares_the_deadline_with_now():
    now = timezone.now()
    assert within_horizon(now + timedelta(seconds=899), 900)
    assert not within_horizon(now + timedelta(seconds=901), 900)
    assert within_horizon(now + timedelta(days=3650), None)


def test_the_arming_window_ends_at_the_horizon_and_never_reaches_the_past():
    assert arming_window(60, 900) == (810, 900)
    assert arming_window(60, 30) == (0, 30)


@override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL=45)
def test_a_task_expires_one_sweep_interval_after_its_deadline():
    deadline = datetime(2026, 1, 1, 12, tzinfo=dt_timezone.utc)
    assert task_expires(deadline) == deadline + timedelta(seconds=45)


def test_the_default_horizon_is_celerys_and_huey_has_none():
    assert CeleryScheduler("default").eta_horizon == DEFAULT_ETA_HORIZON == 900
    assert HueyScheduler("default").eta_horizon is None
    assert CeleryScheduler("default", {"eta_horizon": "120"}).eta_horizon == 120
    assert (
        CeleryScheduler("default", {"eta_horizon": timedelta(minutes=5)}).eta_horizon
        == 300
    )


# --- checks ---------------------------------------------------------------


def celery_app_with(broker_url: str, **conf) -> str:
    """A fresh producer app in tests.support.celery_app, by dotted path."""
    app = make_app(broker_url)
    app.conf.update(conf)
    name = f"app_{uuid.uuid4().hex[:8]}"
    setattr(celery_app, name, app)
    return f"{APPS}.{name}"


def check_ids(scheduler) -> list[str]:
    return [message.id for message in scheduler.check()]


@pytest.mark.parametrize("bad", [0, -5, "soon", float("nan"), float("inf"), [900]])
def test_check_e045_a_horizon_that_is_not_positive_seconds(bad):
    app = celery_app_with(REDIS_URL)
    assert check_ids(CeleryScheduler("default", {"app": app, "eta_horizon": bad})) == [
        "assignment_timeout.E045"
    ]
    huey = HueyScheduler("default", {"eta_horizon": bad})
    assert "assignment_timeout.E045" in check_ids(huey)


@pytest.mark.parametrize("bad", [0, -1, "often", float("nan"), [5]])
def test_check_e047_an_arm_interval_that_is_not_positive_seconds(bad):
    app = celery_app_with(REDIS_URL)
    options = {"app": app, "arm_interval": bad}
    assert check_ids(CeleryScheduler("default", options)) == ["assignment_timeout.E047"]


def test_check_e048_an_arming_window_that_does_not_fit_in_the_horizon():
    app = celery_app_with(REDIS_URL)
    # 1.5 * 40 = 60 is not below a 60 s horizon; 39 s is (the control).
    [error] = CeleryScheduler(
        "default", {"app": app, "eta_horizon": 60, "arm_interval": 40}
    ).check()
    assert error.id == "assignment_timeout.E048"
    assert "40 seconds" in error.msg
    fits = {"app": app, "eta_horizon": 60, "arm_interval": 39}
    assert CeleryScheduler("default", fits).check() == []
    # Nothing is armed without a horizon, or without precise tasks.
    for options in ({"eta_horizon": None}, {"precise": False}):
        scheduler = CeleryScheduler(
            "default", {"app": app, "arm_interval": 40, **options}
        )
        assert "assignment_timeout.E048" not in check_ids(scheduler)


def test_check_e046_a_horizon_not_below_redis_visibility_timeout():
    default = celery_app_with(REDIS_URL)
    assert visibility_timeout(make_app(REDIS_URL)) == ("redis", 3600)
    assert CeleryScheduler("default", {"app": default}).check() == []
    for horizon in (3600, 7200, None):
        [error] = CeleryScheduler(
            "default", {"app": default, "eta_horizon": horizon}
        ).check()
        assert error.id == "assignment_timeout.E046"
        assert "visibility_timeout (3600 seconds)" in error.msg
    assert (
        CeleryScheduler("default", {"app": default, "eta_horizon": 3599}).check() == []
    )
    # Without precise tasks nothing is held in the worker: no E046.
    quiet = {"app": default, "eta_horizon": None, "precise": False}
    assert CeleryScheduler("default", quiet).check() == []


def test_check_e046_reads_the_configured_visibility_timeout_and_the_transport():
    short = celery_app_with(
        "rediss://127.0.0.1:6379/1",
        broker_transport_options={"visibility_timeout": 600},
    )
    [error] = CeleryScheduler("default", {"app": short}).check()
    assert error.id == "assignment_timeout.E046"
    assert "rediss broker's visibility_timeout (600 seconds)" in error.msg
    assert CeleryScheduler("default", {"app": short, "eta_horizon": 300}).check() == []
    # SQS' own default is 30 minutes; RabbitMQ redelivers nothing.
    sqs = celery_app_with("sqs://")
    assert check_ids(CeleryScheduler("default", {"app": sqs, "eta_horizon": 1800})) == [
        "assignment_timeout.E046"
    ]
    assert CeleryScheduler("default", {"app": sqs}).check() == []
    rabbit = celery_app_with(celery_app.RABBITMQ_URL)
    assert (
        CeleryScheduler("default", {"app": rabbit, "eta_horizon": None}).check() == []
    )
    sentinel = make_app("sentinel://h:26379;sentinel://g:26379")
    assert visibility_timeout(sentinel) == ("sentinel", 3600)


def test_check_e046_runs_with_django_checks():
    app = celery_app_with(REDIS_URL)
    setting = {"BACKEND": BACKEND, "OPTIONS": {"app": app, "eta_horizon": 4000}}
    with (
        override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=setting),
        pytest.raises(SystemCheckError, match=r"assignment_timeout\.E046"),
    ):
        call_command("check")


# --- what the broker receives (real Redis, no worker) ---------------------


def redis_messages(client, queue: str) -> list[dict]:
    """The Celery messages waiting in a Redis list: their task name, eta, expires."""
    found = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        headers = message["headers"]
        body = json.loads(base64.b64decode(message["body"]))
        found.append(
            {
                "task": headers["task"],
                "eta": headers.get("eta"),
                "expires": headers.get("expires"),
                "args": body[0],
            }
        )
    return found


@pytest.fixture
def redis_queue():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    queue = f"horizon-{uuid.uuid4().hex[:8]}"
    try:
        yield client, queue
    finally:
        client.delete(queue)
        client.close()


def celery_settings(queue: str, **options):
    return override_settings(
        ASSIGNMENT_TIMEOUT_SCHEDULER={
            "BACKEND": BACKEND,
            "OPTIONS": {"app": f"{APPS}.redis_app", "queue": queue, **options},
        }
    )


def expiry_messages(client, queue: str) -> list[dict]:
    return [
        m for m in redis_messages(client, queue) if m["task"].endswith("expire_offer")
    ]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_near_deadline_is_sent_with_eta_and_expires_a_far_one_is_not(
    redis_queue, driver
):
    client, queue = redis_queue
    near, far = StockRequest.objects.create(), StockRequest.objects.create()
    with (
        celery_settings(queue, eta_horizon=600),
        override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL=30),
    ):
        near_event = near.offer(driver, timeout=599)
        far.offer(driver, timeout=601)
    [sent] = expiry_messages(client, queue)
    assert sent["args"] == ["testapp.StockRequest", near.pk, 1]
    eta = datetime.fromisoformat(sent["eta"])
    expires = datetime.fromisoformat(sent["expires"])
    assert eta == near_event.deadline
    assert expires == near_event.deadline + timedelta(seconds=30)
    # Both offers asked for delivery; only the near one for an ETA task.
    assert [m["task"] for m in redis_messages(client, queue)].count(
        "assignment_timeout.deliver"
    ) == 2


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_sweep_arms_a_far_offer_once_its_deadline_is_in_the_window(
    redis_queue, driver
):
    client, queue = redis_queue
    offer = StockRequest.objects.create()
    with celery_settings(queue, eta_horizon=100):
        offer.offer(driver, timeout=1000)
        client.delete(queue)  # the offer's deliver task
        celery_tasks.sweep.apply(kwargs={"interval": 10}).get()
        assert expiry_messages(client, queue) == []  # 1000 s away: not yet
        # The window of a 10 s tick at horizon 100 s: deadlines in (85, 100].
        for seconds, armed in ((101, 0), (99, 1), (86, 2), (84, 2), (30, 2)):
            set_deadline(offer.pk, seconds)
            celery_tasks.sweep.apply(kwargs={"interval": 10}).get()
            assert len(expiry_messages(client, queue)) == armed, seconds
    first = expiry_messages(client, queue)[0]
    assert first["args"] == ["testapp.StockRequest", offer.pk, 1]
    assert first["expires"] is not None
    assert status(StockRequest, offer.pk) == ("ASSIGNING", 1)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_arm_task_arms_the_deadlines_of_its_short_window_and_the_sweep_none(
    redis_queue, driver
):
    client, queue = redis_queue
    offer = StockRequest.objects.create()
    with celery_settings(queue, eta_horizon=100):
        offer.offer(driver, timeout=1000)
        client.delete(queue)  # the offer's deliver task
        # The window of a 4 s arming tick at horizon 100 s: deadlines in (94, 100].
        for seconds, armed in ((101, 0), (99, 1), (95, 2), (93, 2), (30, 2)):
            set_deadline(offer.pk, seconds)
            before = len(expiry_messages(client, queue))
            sent = celery_tasks.arm.apply(kwargs={"interval": 4}).get()
            assert len(expiry_messages(client, queue)) == armed, seconds
            assert sent == armed - before  # it reports what it sent
        # The sweep of beat_schedule() leaves arming to the arm entry, even for
        # a deadline inside its own 60 s tick's window, (10, 100].
        set_deadline(offer.pk, 50)
        celery_tasks.sweep.apply(kwargs={"interval": 60, "arm": False}).get()
        assert len(expiry_messages(client, queue)) == 2
        # The control: a sweep asked to arm (the default) does arm it.
        celery_tasks.sweep.apply(kwargs={"interval": 60}).get()
        assert len(expiry_messages(client, queue)) == 3
    assert status(StockRequest, offer.pk) == ("ASSIGNING", 1)


def set_deadline(pk, seconds: float) -> None:
    """Move an open offer's stored deadline to ``seconds`` from the database's now."""
    StockRequest._base_manager.filter(pk=pk).update(
        **{EXPIRES_AT: deadline_in(seconds), STARTED_AT: deadline_in(seconds - 2000)}
    )


@pytest.mark.django_db(transaction=True)
def test_upcoming_offers_is_bounded_and_earliest_first(driver):
    offers = [StockRequest.objects.create() for _ in range(5)]
    for offset, offer in zip((50, 20, 40, 10, 30), offers, strict=True):
        offer.offer(driver, timeout=1000)
        set_deadline(offer.pk, offset)
    found = [pk for _, pk, _, _ in upcoming_offers(15, 45, limit=2)]
    assert found == [offers[1].pk, offers[4].pk]
    assert len(list(upcoming_offers(0, 100))) == 5


def test_a_scheduler_without_a_horizon_arms_nothing():
    from django_assignment_timeout.schedulers.command import CommandScheduler

    assert CommandScheduler("default").arm_upcoming(60) == 0
    assert CeleryScheduler("default", {"eta_horizon": None}).arm_upcoming(60) == 0
    assert CeleryScheduler("default", {"precise": False}).arm_upcoming(60) == 0


# --- a real worker ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_arms_a_far_offer_expires_it_at_its_deadline_and_sweeps_the_rest(
    children, driver
):
    """No beat: the test sends each tick, as beat_schedule()'s entries would.

    The sweep (``arm=False``, as its entry passes) expires the due offer and
    arms nothing; the arm task arms the far one, whose ETA task expires it.
    """
    queue = f"horizon-worker-{uuid.uuid4().hex[:8]}"
    armed, swept = StockRequest.objects.create(), StockRequest.objects.create()
    options = {"app": f"{APPS}.app", "eta_horizon": 5}
    worker = children.python(
        "worker",
        "-m", "celery", "-A", f"{APPS}:app", "worker",
        "--hostname", f"{queue}@%h", "--pool", "solo", "-Q", queue,
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO",
        broker_url=REDIS_URL,
        queue=queue,
        log_level="INFO",
        settings={"ASSIGNMENT_TIMEOUT_SCHEDULER": {"BACKEND": BACKEND, "OPTIONS": options}},
    )  # fmt: skip
    producer = {"app": f"{APPS}.redis_app", "queue": queue, "eta_horizon": 5}
    with (
        worker,
        override_settings(
            ASSIGNMENT_TIMEOUT_SCHEDULER={"BACKEND": BACKEND, "OPTIONS": producer}
        ),
    ):
        armed.offer(driver, timeout=600)
        swept.offer(driver, timeout=600)
        # Beyond the horizon: neither offer got an ETA task, so the swept one,
        # once due, is expired by the sweep the worker runs.
        make_due(StockRequest, swept.pk)
        wait_for(lambda: " ready." in worker.output(), 60, "the worker")
        # Inside the window of a 2 s arming tick at horizon 5 s, i.e. (2, 5].
        set_deadline(armed.pk, 4.5)
        deadline = StockRequest._base_manager.values_list(EXPIRES_AT, flat=True).get(
            pk=armed.pk
        )
        sweep_args = {"interval": 60, "arm": False}
        celery_tasks.sweep.apply_async(kwargs=sweep_args, queue=queue)
        wait_for(lambda: expired_events(StockRequest, swept.pk), 30, "the sweep")
        celery_tasks.arm.apply_async(kwargs={"interval": 2}, queue=queue)
        wait_for(lambda: expired_events(StockRequest, armed.pk), 30, "the armed task")
    output = worker.output()
    # The one sweep ran before the armed offer was due and armed nothing; the
    # arm task sent its one ETA task, which expired it.
    received = [line for line in output.splitlines() if line.endswith("] received")]
    assert sum("assignment_timeout.sweep[" in line for line in received) == 1
    assert "Task assignment_timeout.arm[" in output, worker.report()
    assert "Armed 1 ETA task(s)" in output, worker.report()
    assert "'expired': True" in output, worker.report()
    expired_at = armed.assignment_events().get(kind="expired").created_at
    lateness = (expired_at - deadline).total_seconds()
    assert 0 <= lateness < 1.0, lateness
    assert expired_events(StockRequest, armed.pk) == 1
    assert expired_events(StockRequest, swept.pk) == 1
    assert status(StockRequest, armed.pk) == ("PENDING", 1)


# --- Huey -------------------------------------------------------------------


def huey_expiries(config: dict) -> list:
    """The ``expire_offer`` messages in a SqliteHuey's queue (no consumer runs)."""
    from huey import SqliteHuey

    huey = SqliteHuey(config["name"], filename=config["filename"])
    try:
        messages = [
            huey.serializer.deserialize(raw) for raw in huey.storage.enqueued_items()
        ]
    finally:
        # Python 3.13 warns of a sqlite3 connection left to the garbage
        # collector, and the warning fails whichever test is running then.
        huey.storage.close()
    return [m for m in messages if m.name.endswith(".expire_offer")]


@pytest.mark.django_db(transaction=True)
def test_huey_sends_within_its_horizon_with_expires_and_the_sweep_arms_the_rest(
    tmp_path, driver
):
    from tests.support.children import child_env, json_line, run_python

    config = {
        "huey_class": "huey.SqliteHuey",
        "name": f"horizon-{uuid.uuid4().hex[:8]}",
        "filename": str(tmp_path / "huey.db"),
        "immediate": False,
    }
    scheduler = {"BACKEND": "django_assignment_timeout.schedulers.huey.HueyScheduler"}
    scheduler["OPTIONS"] = {"eta_horizon": 100}
    env = child_env(
        settings={"HUEY": config, "ASSIGNMENT_TIMEOUT_SCHEDULER": scheduler}
    )

    def produce(*args: str) -> dict:
        return json_line(
            run_python("-m", "tests.support.producer", *args, env=env, timeout=30)
        )

    near, far = StockRequest.objects.create(), StockRequest.objects.create()
    near_offer = produce("offer", str(near.pk), str(driver.pk), "90")
    produce("offer", str(far.pk), str(driver.pk), "1000")
    [sent] = huey_expiries(config)
    assert sent.args == ("testapp.StockRequest", near.pk, 1)
    deadline = datetime.fromisoformat(near_offer["deadline"])
    assert sent.eta == deadline.replace(tzinfo=None)  # Huey keeps naive UTC
    assert sent.expires_resolved == sent.eta + timedelta(seconds=60)
    # Huey's sweep tick is a whole minute: its window is (10, 100] seconds.
    set_deadline(far.pk, 95)
    assert produce("huey-sweep-here") == {"expired_count": 0}
    armed = [m for m in huey_expiries(config) if m.args[1] == far.pk]
    assert len(armed) == 1
    assert armed[0].expires_resolved is not None


def test_huey_without_a_horizon_sends_every_deadline():
    scheduler = HueyScheduler("default")
    far = timezone.now() + timedelta(days=30)
    assert scheduler.eta_horizon is None
    assert within_horizon(far, scheduler.eta_horizon)
    assert scheduler.arm_upcoming(60) == 0


# --- the arming query ---------------------------------------------------------


@pytest.mark.django_db
def test_arming_is_one_query_per_model(driver, django_assert_num_queries):
    for offer in [StockRequest.objects.create() for _ in range(3)]:
        offer.offer(driver, timeout=1000)
        set_deadline(offer.pk, 50)
    with django_assert_num_queries(1):
        found = list(upcoming_offers(0, 100, models=[StockRequest]))
    assert len(found) == 3


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_arming_query_reads_the_partial_index(driver):
    from django.db import connection

    from django_assignment_timeout.models import _short_name
    from tests.test_query_shape import insert_rows_with_nothing_due, plan

    insert_rows_with_nothing_due(driver)
    rows = upcoming_offers(810, 900, models=[StockRequest])
    queryset_sql = []

    def capture(execute, sql, params, many, context):
        queryset_sql.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        list(rows)
    [(sql, params)] = queryset_sql
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        text = plan(cursor)
    assert "Seq Scan" not in text, text
    assert _short_name(StockRequest._meta.db_table, "dl_ix") in text, text

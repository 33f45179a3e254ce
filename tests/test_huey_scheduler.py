"""The Huey backend with a real ``run_huey`` consumer, on SqliteHuey and RedisHuey.

The Huey guide's own settings (``DEBUG = True``, W027) and its consumer run in
a throwaway project in tests/docs/test_guide_huey.py.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from django_assignment_timeout.schedulers.huey import (
    HueyScheduler,
    immediate_by_default,
)
from django_assignment_timeout.testing import make_due
from tests.support.assertions import expired_events, status
from tests.support.children import child_env, json_line, run_python
from tests.support.polling import wait_for
from tests.testapp.models import StockRequest

BACKEND = "django_assignment_timeout.schedulers.huey.HueyScheduler"


def test_check_requires_huey_configured_for_django():
    [error] = HueyScheduler("default").check()
    assert error.id == "assignment_timeout.E022"
    assert "HUEY" in error.msg
    [unknown] = HueyScheduler("default", {"queue": "x"}).check()[:1]
    assert unknown.id == "assignment_timeout.E021"


@pytest.mark.django_db(transaction=True)
def test_unconfigured_huey_does_not_import_djhuey_and_the_offer_still_succeeds(
    stock_request, driver
):
    import sys

    with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER={"BACKEND": BACKEND}):
        HueyScheduler("default").ready()  # not configured: registers nothing
        stock_request.offer(driver)  # schedule_expiry fails, is logged
    assert "huey.contrib.djhuey" not in sys.modules
    assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 1)


def run_producer(*args: str, env: dict[str, str]) -> dict:
    """Run ``tests.support.producer`` (its own Django, as djhuey needs) for its JSON."""
    return json_line(
        run_python("-m", "tests.support.producer", *args, env=env, timeout=30)
    )


def _huey_config(kind: str, tmp_path) -> dict:
    name = f"sched-{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        return {
            "huey_class": "huey.SqliteHuey",
            "name": name,
            "filename": str(tmp_path / "huey.db"),
            "immediate": False,
        }
    return {
        "huey_class": "huey.RedisHuey",
        "name": name,
        "connection": {"host": "127.0.0.1", "port": 6379, "db": 1},
        "immediate": False,
    }


def _flush_redis_huey(config: dict) -> None:
    from huey import RedisHuey

    RedisHuey(config["name"], **config["connection"]).storage.flush_all()


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]
)
@pytest.mark.django_db(transaction=True)
def test_run_huey_consumer_expires_offers_left_alone_exactly_once(
    tmp_path, children, driver, kind
):
    config = _huey_config(kind, tmp_path)
    child = {
        "log_level": "INFO",
        "settings": {
            "HUEY": config,
            "ASSIGNMENT_TIMEOUT_SCHEDULER": {"BACKEND": BACKEND},
        },
    }
    env = child_env(**child)
    swept = StockRequest.objects.create()
    precise = StockRequest.objects.create()
    swept.offer(driver)  # default scheduler: no precise task for this one
    make_due(StockRequest, swept.pk)
    try:
        # One periodic entry, and its lock: a second sweeper does nothing.
        info = run_producer("huey-info", env=env)
        assert info["periodic"] == [
            "django_assignment_timeout.schedulers.huey.tasks.sweep"
        ]
        assert info["while_locked"] == {"expired_count": 0}
        assert status(StockRequest, swept.pk) == ("ASSIGNING", 1)
        consumer = children.django(
            "huey", "run_huey", "--workers", "1", "--flush-locks", **child
        )
        with consumer:
            offered = run_producer(
                "offer", str(precise.pk), str(driver.pk), "2", env=env
            )
            assert offered["attempt"] == 1
            run_producer("huey-sweep", env=env)  # what the minute tick enqueues
            wait_for(lambda: expired_events(StockRequest, swept.pk), 30, "sweep")
            wait_for(lambda: expired_events(StockRequest, precise.pk), 30, "precise")
            run_producer("huey-sweep", env=env)  # a late duplicate trigger
            wait_for(
                lambda: consumer.output().count("huey.tasks.sweep") >= 4, 15, "2nd"
            )
    finally:
        if kind == "redis":
            _flush_redis_huey(config)
    assert expired_events(StockRequest, swept.pk) == 1
    assert expired_events(StockRequest, precise.pk) == 1
    assert status(StockRequest, precise.pk) == ("PENDING", 1)
    assert "huey.tasks.expire_offer" in consumer.output()


@pytest.mark.parametrize(
    ("debug", "huey", "immediate"),
    [
        (True, {"huey_class": "huey.SqliteHuey"}, True),  # djhuey: immediate = DEBUG
        (True, {"huey_class": "huey.SqliteHuey", "immediate": False}, False),
        (True, {"huey_class": "huey.SqliteHuey", "immediate": True}, False),  # chosen
        (False, {"huey_class": "huey.SqliteHuey"}, False),
        (True, None, False),  # no HUEY: E022's business
    ],
)
def test_immediate_by_default_follows_djhuey_without_importing_it(
    debug, huey, immediate
):
    import sys

    configured = {} if huey is None else {"HUEY": huey}
    with override_settings(DEBUG=debug, **configured):
        assert immediate_by_default() is immediate
    assert "huey.contrib.djhuey" not in sys.modules

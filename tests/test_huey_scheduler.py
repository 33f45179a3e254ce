"""The Huey backend with a real ``run_huey`` consumer, on SqliteHuey and RedisHuey."""

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
from tests.support.guide_project import guide_block
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


def _guide_huey(tmp_path) -> dict:
    """The ``HUEY`` of the Huey guide's settings block, with a queue of this test's."""
    namespace = {"BASE_DIR": tmp_path}
    # The block is plain Python: run it as settings.py would.
    exec(guide_block("huey", "INSTALLED_APPS = ["), namespace)
    config = dict(namespace["HUEY"])
    config["filename"] = str(config["filename"])
    config["name"] = f"guide-{uuid.uuid4().hex[:8]}"
    return config


def _check(settings: dict) -> str:
    result = run_python(
        "-m", "django", "check", env=child_env(settings=settings), timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_check_warns_when_debug_turns_huey_immediate_and_not_with_the_guides_settings(
    tmp_path,
):
    guide = _guide_huey(tmp_path)
    assert guide["immediate"] is False
    implied = {k: v for k, v in guide.items() if k != "immediate"}
    scheduler = {"BACKEND": BACKEND}
    warned = _check(
        {"DEBUG": True, "HUEY": implied, "ASSIGNMENT_TIMEOUT_SCHEDULER": scheduler}
    )
    assert "assignment_timeout.W027" in warned
    assert '"immediate": False' in warned
    for quiet in (
        {"DEBUG": True, "HUEY": guide},
        {"DEBUG": False, "HUEY": implied},
    ):
        output = _check({**quiet, "ASSIGNMENT_TIMEOUT_SCHEDULER": scheduler})
        assert "W027" not in output, quiet


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_run_huey_starts_with_the_guides_settings_under_debug_and_expires_an_offer(
    tmp_path, children, driver
):
    """startproject's ``DEBUG = True`` and the guide's ``HUEY``: the consumer runs."""
    child = {
        "log_level": "INFO",
        "settings": {
            "DEBUG": True,
            "HUEY": _guide_huey(tmp_path),
            "ASSIGNMENT_TIMEOUT_SCHEDULER": {"BACKEND": BACKEND},
        },
    }
    precise = StockRequest.objects.create()
    consumer = children.django("huey", "run_huey", "--workers", "1", **child)
    with consumer:
        wait_for(
            lambda: (
                "Huey consumer started" in consumer.output() or not consumer.alive()
            ),
            60,
            "consumer start",
        )
        assert consumer.alive(), consumer.output()[-4000:]
        run_producer(
            "offer", str(precise.pk), str(driver.pk), "1", env=child_env(**child)
        )
        wait_for(lambda: expired_events(StockRequest, precise.pk), 30, "precise")
    assert "huey.tasks.expire_offer" in consumer.output()
    assert expired_events(StockRequest, precise.pk) == 1

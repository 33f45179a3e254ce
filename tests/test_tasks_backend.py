"""The Django tasks-framework backend: deferral where supported, the sweep where not.

Runs on Django 5.2 with the django-tasks backport and on Django 6.x with
``django.tasks``; the backend picks whichever this Django has.
"""

from __future__ import annotations

import importlib

import pytest
from django.test import override_settings

from django_assignment_timeout.schedulers import get_scheduler, jobs
from django_assignment_timeout.schedulers.tasks import TasksScheduler, framework
from django_assignment_timeout.testing import make_due
from tests.support.assertions import expired_events, status
from tests.testapp.models import StockRequest

BACKEND = "django_assignment_timeout.schedulers.tasks.TasksScheduler"
DUMMY = f"{framework.__name__}.backends.dummy.DummyBackend"
IMMEDIATE = f"{framework.__name__}.backends.immediate.ImmediateBackend"


def tasks_settings(task_backend: str, **options):
    return override_settings(
        TASKS={"default": {"BACKEND": task_backend}},
        ASSIGNMENT_TIMEOUT_SCHEDULER={"BACKEND": BACKEND, "OPTIONS": options},
    )


def _enqueued(backend, name: str) -> list:
    return [r for r in backend.results if r.task.func.__name__ == name]


@pytest.mark.django_db(transaction=True)
def test_deferring_backend_gets_the_expiry_at_the_deadline(stock_request, driver):
    with tasks_settings(DUMMY):
        event = stock_request.offer(driver)
        backend = framework.task_backends["default"]
        [expiry] = _enqueued(backend, "expire_offer")
        assert expiry.task.run_after == event.deadline
        assert list(expiry.args) == ["testapp.StockRequest", stock_request.pk, 1]
        assert len(_enqueued(backend, "deliver")) == 1

        # A worker that runs it early does nothing, and defers a re-check.
        context = framework.TaskContext(task_result=expiry)
        early = expiry.task.call(context, *expiry.args)
        assert early["expired"] is False
        assert early["reason"] == "offer_not_due"
        [_, recheck] = _enqueued(backend, "expire_offer")
        assert recheck.args[-1] == 1
        assert recheck.task.run_after > event.deadline
        assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 1)

        # On time, it expires the offer.
        make_due(StockRequest, stock_request.pk)
        assert expiry.task.call(context, *expiry.args)["expired"] is True
    assert expired_events(StockRequest, stock_request.pk) == 1


@pytest.mark.django_db(transaction=True)
def test_backend_without_deferral_falls_back_to_the_sweep(stock_request, driver):
    enqueued = []

    def record(sender, task_result, **kwargs):
        enqueued.append(task_result.task.func.__name__)

    signals = importlib.import_module(f"{framework.__name__}.signals")
    signals.task_enqueued.connect(record, weak=False)
    try:
        with tasks_settings(IMMEDIATE):
            scheduler = get_scheduler()
            assert not scheduler.defers
            [warning] = scheduler.check()
            assert warning.id == "assignment_timeout.W025"
            stock_request.offer(driver)
    finally:
        signals.task_enqueued.disconnect(record)
    # Delivery ran (immediately, after commit); no expiry task was attempted.
    assert enqueued == ["deliver"]
    assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 1)
    make_due(StockRequest, stock_request.pk)
    assert jobs.run_sweep() == {"expired_count": 1}
    assert expired_events(StockRequest, stock_request.pk) == 1


@pytest.mark.django_db(transaction=True)
def test_sweep_task_returns_the_expired_count(stock_request, driver):
    from django_assignment_timeout.schedulers.tasks import tasks as tasks_framework

    stock_request.offer(driver)
    make_due(StockRequest, stock_request.pk)
    with tasks_settings(IMMEDIATE):
        # Name the queue: the module may have been declared under other settings.
        result = tasks_framework.sweep.using(
            backend="default", queue_name="default"
        ).enqueue()
    assert result.return_value == {"expired_count": 1}


def test_checks():
    with override_settings(TASKS={"default": {"BACKEND": DUMMY}}):
        assert TasksScheduler("default").check() == []
        assert TasksScheduler("default", {"precise": False}).check() == []
        [unknown_alias] = TasksScheduler("default", {"backend": "nope"}).check()
        assert unknown_alias.id == "assignment_timeout.E024"
        [unknown_option] = TasksScheduler("default", {"queue": "x"}).check()
        assert unknown_option.id == "assignment_timeout.E021"
    with override_settings(TASKS={"default": {"BACKEND": IMMEDIATE}}):
        assert TasksScheduler("default", {"precise": False}).check() == []


@pytest.mark.django_db(transaction=True)
def test_precise_off_enqueues_no_expiry(stock_request, driver):
    with tasks_settings(DUMMY, precise=False, deliver=False):
        stock_request.offer(driver)
        assert framework.task_backends["default"].results == []

"""Scheduler OPTIONS that switch work off or route it: Celery and the tasks framework."""

from __future__ import annotations

import pytest
from celery.signals import task_postrun
from django.test import override_settings

from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.schedulers.tasks import framework
from tests.support.assertions import status
from tests.support.children import run_python
from tests.testapp.models import StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

CELERY = "django_assignment_timeout.schedulers.celery.CeleryScheduler"
EAGER_APP = "tests.support.celery_app.eager_app"
TASKS = "django_assignment_timeout.schedulers.tasks.TasksScheduler"
DUMMY = f"{framework.__name__}.backends.dummy.DummyBackend"


def celery_task_runs(stock_request, driver, **options):
    """Offer under an eager Celery scheduler with ``options``; the task names run."""
    runs = []

    def record(sender, **kwargs):
        runs.append(sender.name)

    config = {"BACKEND": CELERY, "OPTIONS": {"app": EAGER_APP, **options}}
    task_postrun.connect(record, weak=False)
    try:
        with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER=config):
            stock_request.offer(driver)
    finally:
        task_postrun.disconnect(record)
    return runs


def test_celery_with_precise_and_deliver_off_sends_no_task(stock_request, driver):
    assert celery_task_runs(stock_request, driver, precise=False, deliver=False) == []
    # The offer stands; its notification waits for the sweep's relay run.
    assert status(StockRequest, stock_request.pk) == ("ASSIGNING", 1)
    assert AssignmentEvent.objects.get().delivery_state == DeliveryState.PENDING


def test_celery_with_only_deliver_on_sends_only_the_relay(stock_request, driver):
    runs = celery_task_runs(stock_request, driver, precise=False)
    assert runs == ["assignment_timeout.deliver"]
    assert AssignmentEvent.objects.get().delivery_state == DeliveryState.DELIVERED


def test_tasks_framework_enqueues_on_the_configured_queue(stock_request, driver):
    with override_settings(
        # "default" stays listed: the library's tasks are declared on it.
        TASKS={"default": {"BACKEND": DUMMY, "QUEUES": ["default", "assignments"]}},
        ASSIGNMENT_TIMEOUT_SCHEDULER={
            "BACKEND": TASKS,
            "OPTIONS": {"queue_name": "assignments"},
        },
    ):
        stock_request.offer(driver)
        results = framework.task_backends["default"].results
        queued = sorted((r.task.func.__name__, r.task.queue_name) for r in results)
    assert queued == [("deliver", "assignments"), ("expire_offer", "assignments")]


def test_tasks_are_declared_on_the_configured_queue():
    # A backend whose QUEUES lacks "default" refused the library's task
    # declarations at import, so no offer could be scheduled on it.
    result = run_python("-m", "tests.support.queue_probe", DUMMY, TASKS, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["assignments", "assignments"]

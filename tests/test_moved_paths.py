"""Old import paths keep working, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import importlib
import sys

import pytest

from django_assignment_timeout import clock, notifications, testing
from django_assignment_timeout.notifiers import locmem
from django_assignment_timeout.testing import make_due
from tests.testapp.models import StockRequest


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("django_assignment_timeout.expressions", "DatabaseNow", clock),
        ("django_assignment_timeout.expressions", "deadline_in", clock),
        (
            "django_assignment_timeout.notifiers.content",
            "make_notification",
            notifications,
        ),
    ],
)
def test_a_moved_name_is_served_from_its_new_module_with_a_warning(old, name, new):
    module = importlib.import_module(old)
    with pytest.warns(
        DeprecationWarning, match=rf"{old}\.{name} moved to {new.__name__}"
    ):
        value = getattr(module, name)
    assert value is getattr(new, name)


def test_a_name_that_never_was_there_is_still_an_attribute_error():
    module = importlib.import_module("django_assignment_timeout.expressions")
    with pytest.raises(AttributeError):
        module.nothing_like_it  # noqa: B018
    with pytest.raises(AttributeError):
        module.__wrapped__  # noqa: B018


def test_the_old_celery_tasks_module_still_registers_the_tasks(monkeypatch):
    pytest.importorskip("celery", reason="needs the celery extra")
    monkeypatch.delitem(
        sys.modules, "django_assignment_timeout.schedulers.celery_tasks", raising=False
    )
    with pytest.warns(
        DeprecationWarning, match=r"celery_tasks moved to .*celery\.tasks"
    ):
        old = importlib.import_module(
            "django_assignment_timeout.schedulers.celery_tasks"
        )
    from django_assignment_timeout.schedulers.celery import tasks

    assert old.sweep is tasks.sweep
    assert old.sweep.name == "assignment_timeout.sweep"


@pytest.mark.django_db(transaction=True)
def test_testing_deliver_returns_only_what_this_run_sent(
    driver, other_driver, settings
):
    settings.ASSIGNMENT_TIMEOUT_NOTIFIERS = testing.LOCMEM_NOTIFIERS
    assert testing.outbox is locmem.outbox
    locmem.outbox.clear()
    StockRequest.objects.create().offer(driver)
    [first] = testing.deliver()
    assert first.recipients == (driver,)
    StockRequest.objects.create().offer(other_driver)
    [second] = testing.deliver()
    assert second.recipients == (other_driver,)
    assert testing.deliver() == []
    assert len(locmem.outbox) == 2


@pytest.mark.django_db
def test_make_due_takes_a_queryset_and_keeps_the_start_before_the_deadline(driver):
    due, other = StockRequest.objects.create(), StockRequest.objects.create()
    due.offer(driver)
    other.offer(driver)
    assert make_due(StockRequest.objects.filter(pk=due.pk), seconds_ago=30) == 1
    assert list(StockRequest.objects.due()) == [due]
    due.refresh_from_db()
    assert due.assignment_started_at <= due.assignment_expires_at
    # Pending rows have no deadline to move.
    assert make_due(StockRequest, StockRequest.objects.create().pk) == 0

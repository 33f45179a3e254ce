"""Notifications and the relay at their edges.

Lazy translations in a notification, the default content when the relay has
not pre-loaded the assignee, long collapse keys, the log backend with a bad
level, and the relay meeting events it can not build: an unknown model, a
deleted assignment, a hook that returns something else than notifications,
and a whole batch that fails.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test.utils import override_settings
from django.utils import translation
from django.utils.translation import gettext_lazy

from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifications import (
    MAX_COLLAPSE_KEY,
    collapse_key,
    default_notifications,
)
from django_assignment_timeout.notifiers import load_notifier, locmem
from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
)
from tests.testapp.models import Driver, StockRequest

LOG = "django_assignment_timeout.notifiers.log.LogNotifier"


class Unavailable(BaseNotifier):
    """A backend whose service answers "try again later" to everything."""

    def send(self, notifications):
        return [
            RecipientResult(n, r, Status.RETRY, error="down")
            for n in notifications
            for r in n.recipients
        ]


# -- notifications ------------------------------------------------------------


def test_lazy_texts_are_resolved_once_in_the_active_language():
    with translation.override("de"):
        note = Notification(("a",), gettext_lazy("Yes"), gettext_lazy("No"))
    # Frozen as the German text, whatever language is active later.
    assert (type(note.title), note.title, note.body) == (str, "Ja", "Nein")


def test_backends_name_themselves():
    assert repr(load_notifier("push", {"BACKEND": LOG})) == "<LogNotifier 'push'>"


def test_a_long_collapse_key_is_hashed_to_the_limit():
    long_pk = StockRequest(pk="k" * 80)
    first, again = collapse_key(long_pk, 1), collapse_key(long_pk, 1)
    assert len(first.encode()) == MAX_COLLAPSE_KEY
    assert first == again  # the same offer always gets the same key
    assert collapse_key(long_pk, 2) != first  # another attempt, another key
    assert collapse_key(StockRequest(pk=5), 1) == "testapp.stockrequest:5:1"


def test_log_backend_with_an_unknown_level_still_logs_at_info(caplog):
    notifier = load_notifier("log", {"BACKEND": LOG, "OPTIONS": {"level": "LOUD"}})
    with caplog.at_level(logging.INFO, logger="django_assignment_timeout"):
        [result] = notifier.send([Notification(("tok",), "t", "b")])
    assert result.status == Status.SENT
    [record] = caplog.records
    assert record.levelno == logging.INFO


# -- default content without the relay's pre-loading ----------------------------


@pytest.mark.django_db
def test_default_notifications_load_the_assignee_themselves(driver):
    request = StockRequest.objects.create()
    event = request.offer(driver)
    request.refresh_from_db()
    [note] = default_notifications(request, event)
    assert note.recipients == (driver,)
    assert note.title == "New assignment"


@pytest.mark.django_db
def test_an_event_without_an_assignee_tells_nobody(driver):
    request = StockRequest.objects.create()
    event = request.offer(driver)
    event.assignee_pk = None
    assert default_notifications(request, event) == []
    # An assignee deleted since: nobody to tell either.
    event.assignee_pk = str(driver.pk + 1000)
    assert default_notifications(request, event) == []


# -- the relay ------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(ASSIGNMENT_TIMEOUT_DELIVERY_MAX_ATTEMPTS=2)
def test_an_event_of_an_unknown_model_is_retried_then_dead(driver):
    event = StockRequest.objects.create().offer(driver)
    AssignmentEvent.objects.filter(pk=event.pk).update(
        content_type=ContentType.objects.get_for_model(Driver)
    )
    assert deliver_pending().retried == 1
    AssignmentEvent.objects.update(next_attempt_at=deadline_in(-1))  # due again
    assert deliver_pending().dead == 1
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DEAD
    assert "unknown assignment model" in event.last_error
    assert locmem.outbox == []


@pytest.mark.django_db
def test_an_event_of_a_deleted_assignment_is_delivered_to_nobody(driver):
    request = StockRequest.objects.create()
    event = request.offer(driver)
    request.delete()
    assert deliver_pending().delivered == 1
    event.refresh_from_db()
    assert event.delivery_state == DeliveryState.DELIVERED
    assert locmem.outbox == []


@pytest.mark.django_db
def test_a_hook_returning_something_else_is_retried_not_sent(monkeypatch, driver):
    monkeypatch.setattr(
        StockRequest, "assignment_notifications", lambda self, event: ["hello"]
    )
    event = StockRequest.objects.create().offer(driver)
    assert deliver_pending().retried == 1
    event.refresh_from_db()
    assert "'hello' is not a Notification" in event.last_error
    assert locmem.outbox == []


@pytest.mark.django_db
@override_settings(
    ASSIGNMENT_TIMEOUT_NOTIFIERS={
        "push": {"BACKEND": "tests.test_notifier_edges.Unavailable"}
    }
)
def test_a_run_ends_after_a_whole_batch_failed(driver):
    for _ in range(3):
        StockRequest.objects.create().offer(driver)
    result = deliver_pending(batch_size=1)
    # One batch tried and failed: the run stops instead of hammering the service.
    assert (result.retried, result.delivered, result.has_more) == (1, 0, True)
    tries = sorted(AssignmentEvent.objects.values_list("delivery_attempts", flat=True))
    assert tries == [0, 0, 1]

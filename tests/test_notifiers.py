"""Notifier loading, the log and locmem backends, and checks E030-E034."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test.utils import override_settings

from django_assignment_timeout.checks.backends import check_notifiers
from django_assignment_timeout.checks.settings import check_delivery_settings
from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.notifiers import get_notifiers, load_notifier, locmem
from django_assignment_timeout.notifiers.base import (
    InvalidNotification,
    Notification,
    Status,
    recipient_key,
)

LOG = "django_assignment_timeout.notifiers.log.LogNotifier"


def _ids(messages):
    return sorted(m.id for m in messages)


def test_notification_validates_and_freezes():
    note = Notification(["a"], "t", "b", {"k": "v"})
    assert note.recipients == ("a",)
    with pytest.raises(InvalidNotification):
        Notification(("a",), "t", "b", {"k": 1})
    with pytest.raises(InvalidNotification):
        Notification(("a",), None, "b")


def test_recipient_key(db, django_user_model):
    user = django_user_model.objects.create(username="u")
    assert recipient_key(user) == f"auth.user:{user.pk}"
    assert recipient_key("tok") == "tok"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("nope", "must be a dict"),
        ({"BACKEND": "no.such.Backend"}, "could not import"),
        (
            {"BACKEND": "django_assignment_timeout.notifiers.base.Status"},
            "not a BaseNotifier",
        ),
        ({"BACKEND": LOG, "OPTIONS": []}, "OPTIONS"),
        (
            {"BACKEND": "django_assignment_timeout.notifiers.base.BaseNotifier"},
            r"is abstract; it must implement send\.",
        ),
    ],
)
def test_bad_backend_config_is_a_configuration_error(config, message):
    with pytest.raises(ConfigurationError, match=message):
        load_notifier("x", config)


def test_locmem_outbox_and_cache_follow_settings():
    [notifier] = get_notifiers().values()
    [result] = notifier.send([Notification(("a",), "t", "b")])
    assert result.status == Status.SENT
    assert [n.title for n in locmem.outbox] == ["t"]
    with override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS={"log": {"BACKEND": LOG}}):
        assert list(get_notifiers()) == ["log"]
    assert list(get_notifiers()) == ["default"]


def test_log_backend_writes_a_structured_record(caplog):
    notifier = load_notifier("log", {"BACKEND": LOG, "OPTIONS": {"level": "warning"}})
    note = Notification(("tok",), "Offer expired", "body", {"k": "v"}, "ck", event_id=7)
    with caplog.at_level(
        logging.WARNING, logger="django_assignment_timeout.notifications"
    ):
        [result] = notifier.send([note])
    assert result.status == Status.SENT
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.notification == {
        "event_id": 7,
        "recipients": ["tok"],
        "title": "Offer expired",
        "body": "body",
        "data": {"k": "v"},
        "collapse_key": "ck",
    }


@pytest.mark.parametrize(
    ("notifiers", "ids"),
    [
        ({"default": {"BACKEND": LOG}}, []),
        ({}, ["assignment_timeout.W030"]),
        ([], ["assignment_timeout.E030"]),
        ({"x": {"BACKEND": "no.such.Backend"}}, ["assignment_timeout.E030"]),
        (
            {"x": {"BACKEND": LOG, "OPTIONS": {"colour": 1}}},
            ["assignment_timeout.E031"],
        ),
        (
            {"x": {"BACKEND": LOG, "OPTIONS": {"level": "LOUD"}}},
            ["assignment_timeout.E031"],
        ),
    ],
)
def test_notifier_checks(notifiers, ids):
    with override_settings(ASSIGNMENT_TIMEOUT_NOTIFIERS=notifiers):
        assert _ids(check_notifiers()) == ids


@pytest.mark.parametrize(
    ("settings", "ids"),
    [
        ({}, []),
        ({"DELIVERY_BATCH_SIZE": 0}, ["assignment_timeout.E032"]),
        ({"DELIVERY_MAX_ATTEMPTS": True}, ["assignment_timeout.E032"]),
        ({"DELIVERY_LEASE": -1}, ["assignment_timeout.E033"]),
        ({"DELIVERY_BACKOFF": "5"}, ["assignment_timeout.E033"]),
        (
            {"DELIVERY_BACKOFF": 10, "DELIVERY_BACKOFF_MAX": 1},
            ["assignment_timeout.W034"],
        ),
    ],
)
def test_delivery_setting_checks(settings, ids):
    prefixed = {f"ASSIGNMENT_TIMEOUT_{k}": v for k, v in settings.items()}
    with override_settings(**prefixed):
        assert _ids(check_delivery_settings()) == ids


def test_checks_run_through_the_check_command():
    with (
        override_settings(ASSIGNMENT_TIMEOUT_DELIVERY_LEASE=0),
        pytest.raises(SystemCheckError, match="E033"),
    ):
        call_command("check", stdout=io.StringIO())

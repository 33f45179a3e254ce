"""The email backend: Django's SMTP EmailBackend against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.test.utils import override_settings

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifiers import load_notifier
from django_assignment_timeout.notifiers.base import Notification, Status
from tests.support.ports import free_port
from tests.support.smtp_server import SMTPServer
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db

BACKEND = "django_assignment_timeout.notifiers.email.EmailNotifier"


@pytest.fixture
def smtp():
    with SMTPServer() as server, override_settings(**server.settings()):
        yield server


def address_of(recipient):
    """An address callable named by dotted path in a check test."""
    return f"{recipient}@example.com"


def _notifier(**options):
    return load_notifier("mail", {"BACKEND": BACKEND, "OPTIONS": options})


def _mail_settings(**options):
    return override_settings(
        ASSIGNMENT_TIMEOUT_NOTIFIERS={"mail": {"BACKEND": BACKEND, "OPTIONS": options}},
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF=0.01,
        ASSIGNMENT_TIMEOUT_DELIVERY_BACKOFF_MAX=0.02,
    )


def _note(*recipients, event="offered", **fields):
    data = {"event": event} if event else {}
    return Notification(recipients=recipients, title="T", body="B", data=data, **fields)


def _statuses(results):
    return {r.recipient: (r.status, r.code) for r in results}


def test_an_offer_is_emailed_to_the_assignee_through_smtp(smtp, django_user_model):
    agent = django_user_model.objects.create(username="ravi", email="ravi@example.com")
    ticket = Ticket.objects.create()
    with _mail_settings():
        event = ticket.offer(agent)
        assert deliver_pending().delivered == 1

    [received] = smtp.messages
    message = received.message
    assert received.rcpt_tos == ["ravi@example.com"]
    assert received.mail_from == "dispatch@example.com"
    assert message["To"] == "ravi@example.com"
    assert message["Subject"] == "New assignment"
    text = message.get_content()
    assert f"You have been offered {ticket}. Please accept or reject it." in text
    # The packaged offered_body.txt, not the generic body.txt, was used.
    assert "answer it soon" in text
    assert "&#x27;" not in text  # plain text is not HTML-escaped
    assert message["Message-ID"].startswith(f"<assignment-timeout.{event.pk}.")
    assert message["Message-ID"].endswith("@example.com>")
    assert AssignmentEvent.objects.get().delivery_state == DeliveryState.DELIVERED


def test_a_kind_without_a_template_uses_the_generic_one(smtp):
    [result] = _notifier().send([_note("a@example.com", event="reassigned")])
    assert result.status == Status.SENT
    [received] = smtp.messages
    assert received.message["Subject"] == "T"
    assert received.message.get_content().strip() == "B"
    # A notification the relay did not build has no event: Django makes the id.
    assert not received.message["Message-ID"].startswith("<assignment-timeout.")


def test_a_kind_that_is_not_a_plain_word_names_no_template(smtp):
    [result] = _notifier().send([_note("a@example.com", event="../../secret")])
    assert result.status == Status.SENT
    assert smtp.messages[0].message.get_content().strip() == "B"


def test_the_projects_templates_override_the_packaged_ones(smtp, tmp_path, settings):
    folder = tmp_path / "django_assignment_timeout" / "email"
    folder.mkdir(parents=True)
    (folder / "offered_subject.txt").write_text(
        "{% autoescape off %}Job for\n{{ recipient }}: {{ title }}{% endautoescape %}\n"
    )
    (folder / "offered_body.html").write_text(
        "<p>{{ body }} &amp; {{ data.event }}</p>"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    _notifier().send([_note("a@example.com")])
    [received] = smtp.messages
    # The subject template's two lines became one header.
    assert received.message["Subject"] == "Job for a@example.com: T"
    html = received.message.get_body(("html",)).get_content()
    assert "<p>B &amp; offered</p>" in html
    plain = received.message.get_body(("plain",)).get_content()
    assert "answer it soon" in plain  # the packaged body text, still


def test_refused_recipients_are_judged_one_by_one(smtp):
    smtp.refuse_recipient("gone@example.com", "550 5.1.1 No such user")
    smtp.refuse_recipient("full@example.com", "452 4.2.2 Mailbox full")
    results = _notifier().send(
        [_note("ok@example.com", "gone@example.com", "full@example.com")]
    )
    assert _statuses(results) == {
        "ok@example.com": (Status.SENT, ""),
        "gone@example.com": (Status.INVALID_RECIPIENT, "550"),
        "full@example.com": (Status.RETRY, "452"),
    }
    gone = next(r for r in results if r.recipient == "gone@example.com")
    assert "No such user" in gone.error
    # Each recipient got a message of their own: nobody sees another's address.
    assert [m.rcpt_tos for m in smtp.messages] == [["ok@example.com"]]


def test_a_refused_message_fails_and_a_deferred_one_is_retried(smtp):
    smtp.refuse_data("554 5.6.0 Message content rejected")
    smtp.refuse_data("451 4.3.0 Try again later")
    results = _notifier().send(
        [_note("a@example.com"), _note("b@example.com"), _note("c@example.com")]
    )
    assert _statuses(results) == {
        "a@example.com": (Status.FAILED, "554"),
        "b@example.com": (Status.RETRY, "451"),
        "c@example.com": (Status.SENT, ""),
    }


def test_a_refused_sender_is_retried_and_logged(smtp, caplog):
    smtp.refuse_sender("dispatch@example.com", "553 5.7.1 Sender not allowed")
    with caplog.at_level(logging.ERROR, logger="django_assignment_timeout"):
        [result] = _notifier().send([_note("a@example.com")])
    assert (result.status, result.code) == (Status.RETRY, "553")
    assert "sender refused: 553 5.7.1 Sender not allowed" in caplog.text


def test_a_broken_project_template_keeps_the_notification(smtp, tmp_path, settings):
    folder = tmp_path / "django_assignment_timeout" / "email"
    folder.mkdir(parents=True)
    (folder / "offered_body.txt").write_text("{% if %}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    offered, other = _notifier().send(
        [_note("a@example.com"), _note("b@example.com", event="expired")]
    )
    assert (offered.status, offered.code) == (Status.RETRY, "TEMPLATE")
    assert "TemplateSyntaxError" in offered.error
    # The other kind's template is fine: that one went out.
    assert other.status == Status.SENT
    assert [m.rcpt_tos for m in smtp.messages] == [["b@example.com"]]


def test_recipients_without_a_usable_address_are_invalid(smtp, django_user_model):
    nobody = django_user_model.objects.create(username="nobody", email="")
    somebody = django_user_model.objects.create(username="some", email="s@example.com")
    results = _notifier().send(
        [
            _note(
                nobody,
                somebody,
                "not-an-address",
                "two@x.example, three@x.example",
                "a@x.example\nBcc: b@x.example",
            )
        ]
    )
    assert _statuses(results) == {
        nobody: (Status.INVALID_RECIPIENT, "NO_ADDRESS"),
        somebody: (Status.SENT, ""),
        "not-an-address": (Status.INVALID_RECIPIENT, "NO_ADDRESS"),
        "two@x.example, three@x.example": (Status.INVALID_RECIPIENT, "BAD_ADDRESS"),
        # A header injection is not an address either.
        "a@x.example\nBcc: b@x.example": (Status.INVALID_RECIPIENT, "BAD_ADDRESS"),
    }
    assert [m.rcpt_tos for m in smtp.messages] == [["s@example.com"]]


def test_the_address_comes_from_an_attribute_method_or_callable(smtp):
    class Person:
        def __init__(self, name):
            self.name = name

        def contact(self):
            return f"{self.name} <{self.name.lower()}@example.com>"

        def __str__(self):
            return self.name

    _notifier(address="contact").send([_note(Person("Ravi"))])
    _notifier(address=lambda p: f"{p.name}@dispatch.example").send(
        [_note(Person("Sunil"))]
    )
    assert [m.rcpt_tos for m in smtp.messages] == [
        ["ravi@example.com"],
        ["Sunil@dispatch.example"],
    ]
    assert smtp.messages[0].message["To"] == "Ravi <ravi@example.com>"


def test_no_smtp_server_retries_every_message():
    with override_settings(**SMTPServer.settings_for_port(free_port())):
        results = _notifier().send([_note("a@example.com", "b@example.com")])
    assert {(r.status, r.code) for r in results} == {(Status.RETRY, "CONNECTION")}
    assert "could not connect" in results[0].error


def test_a_server_that_stops_answering_retries_the_rest(smtp):
    smtp.delay_data(1.5)
    results = _notifier(timeout=0.3).send(
        [_note("a@example.com"), _note("b@example.com")]
    )
    # The first timed out and the connection is dead: the second is not tried.
    assert {(r.status, r.code) for r in results} == {(Status.RETRY, "CONNECTION")}
    assert len(results) == 2


def test_a_deferred_email_is_retried_by_the_relay(smtp, django_user_model):
    agent = django_user_model.objects.create(username="ravi", email="ravi@example.com")
    smtp.refuse_recipient("ravi@example.com", "450 4.2.1 Try later")
    with _mail_settings():
        Ticket.objects.create().offer(agent)
        assert deliver_pending().retried == 1
        event = AssignmentEvent.objects.get()
        assert "450 4.2.1 Try later" in event.last_error
        assert smtp.messages == []
        smtp.accept_recipient("ravi@example.com")
        event.next_attempt_at = event.created_at
        event.save(update_fields=["next_attempt_at"])
        assert deliver_pending().delivered == 1
    assert [m.rcpt_tos for m in smtp.messages] == [["ravi@example.com"]]


def test_a_copy_sent_again_has_the_same_message_id(smtp):
    note = _note("a@example.com", "b@example.com", event_id=7)
    _notifier().send([note])
    _notifier().send([note])
    first_a, first_b, again_a, again_b = (
        m.message["Message-ID"] for m in smtp.messages
    )
    assert first_a == again_a and first_b == again_b
    # Control: another recipient of the same event has an id of its own.
    assert first_a != first_b


# -- checks -----------------------------------------------------------------


def _ids(**options):
    return [m.id for m in _notifier(**options).check()]


def test_a_sound_configuration_passes_every_check(smtp):
    assert _ids() == []
    assert _ids(address="tests.test_email_notifier.address_of", timeout=5) == []


@pytest.mark.parametrize(
    ("options", "check_id"),
    [
        ({"address": "no.such.module.address_for"}, "E080"),
        ({"address": 42}, "E080"),
        ({"from_email": "not an address"}, "E081"),
        ({"from_email": None}, "E081"),
        ({"template_prefix": "no/such/folder"}, "E082"),
        ({"email_backend": "no.such.EmailBackend"}, "E083"),
        ({"mailer": "no-such-mailer"}, "E083"),
        ({"timeout": 0}, "E084"),
        ({"timeout": "10"}, "E084"),
        ({"adress": "email"}, "E031"),
    ],
)
def test_each_mistake_has_its_check(smtp, options, check_id):
    assert f"assignment_timeout.{check_id}" in _ids(**options)


def test_manage_py_check_reports_the_email_backend(smtp):
    with _mail_settings(from_email="nobody"), pytest.raises(Exception) as raised:
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())
    assert "assignment_timeout.E081" in str(raised.value)

"""docs/guides/email.rst, run: its settings send an offer to a real SMTP server
(aiosmtpd on 127.0.0.1, with only the host, port and TLS changed to reach
it), its address callable picks the addresses, and its template replaces the
packaged one (in this suite's project: the blocks need no project of their
own)."""

from __future__ import annotations

import types

import pytest
from django.core import mail
from django.test.utils import override_settings

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.notifiers import load_notifier
from django_assignment_timeout.notifiers.base import Notification, Status
from tests.docs.blocks import block
from tests.support.smtp_server import SMTPServer
from tests.testapp.models import Ticket

pytestmark = pytest.mark.django_db


#: Django 6.1 configures email in MAILERS and deprecates the EMAIL_* settings.
HAS_MAILERS = hasattr(mail, "mailers")


def _settings(smtp: SMTPServer, name: str = "email-settings") -> dict[str, object]:
    text = block(name)
    edits = {
        "email-settings": {
            '"smtp.example.com"': '"127.0.0.1"',
            "EMAIL_PORT = 587": f"EMAIL_PORT = {smtp.port}",
            "EMAIL_USE_TLS = True": "EMAIL_USE_TLS = False",
        },
        "email-settings-mailers": {
            '"smtp.example.com"': '"127.0.0.1"',
            '"port": 587': f'"port": {smtp.port}',
            '"use_tls": True': '"use_tls": False',
        },
    }[name]
    for old, new in edits.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    values: dict[str, object] = {}
    exec(text, values)
    return {k: v for k, v in values.items() if k.isupper()}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "email-settings",
            marks=pytest.mark.skipif(
                HAS_MAILERS, reason="Django 6.1+ deprecates the EMAIL_* settings"
            ),
        ),
        pytest.param(
            "email-settings-mailers",
            marks=pytest.mark.skipif(
                not HAS_MAILERS, reason="MAILERS needs Django 6.1 or later"
            ),
        ),
    ],
)
def test_the_guides_settings_email_an_offer(django_user_model, name):
    agent = django_user_model.objects.create(username="asha", email="asha@example.com")
    with SMTPServer() as smtp, override_settings(**_settings(smtp, name)):
        Ticket.objects.create().offer(agent)
        assert deliver_pending().delivered == 1
        [received] = smtp.messages
    assert received.rcpt_tos == ["asha@example.com"]
    assert received.message["From"] == "Dispatch <dispatch@example.com>"
    assert received.message["Subject"] == "New assignment"


def test_the_address_callable_skips_a_driver_without_a_profile():
    module = types.ModuleType("guide_email_mail")
    exec(block("email-address-py"), module.__dict__)
    assert block("email-address-py").startswith("# logistics/mail.py\n")
    profile = types.SimpleNamespace(work_email="ravi@fleet.example")
    ravi = types.SimpleNamespace(profile=profile, name="Ravi")
    sunil = types.SimpleNamespace(name="Sunil")
    note = Notification(
        recipients=(ravi, sunil), title="T", body="B", data={"event": "offered"}
    )
    with SMTPServer() as smtp, override_settings(**smtp.settings()):
        notifier = load_notifier(
            "mail",
            {
                "BACKEND": "django_assignment_timeout.notifiers.email.EmailNotifier",
                "OPTIONS": {"address": module.address_for},
            },
        )
        results = notifier.send([note])
        assert [m.rcpt_tos for m in smtp.messages] == [["ravi@fleet.example"]]
    assert {r.recipient.name: (r.status, r.code) for r in results} == {
        "Ravi": (Status.SENT, ""),
        "Sunil": (Status.INVALID_RECIPIENT, "NO_ADDRESS"),
    }


def test_the_guides_template_replaces_the_packaged_one(tmp_path, settings):
    folder = tmp_path / "django_assignment_timeout" / "email"
    folder.mkdir(parents=True)
    (folder / "expired_body.txt").write_text(block("email-expired-body"))
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    note = Notification(
        recipients=("o'brien@example.com",),
        title="Offer expired",
        body="The offer of Ticket 7 has expired.",
        data={
            "event": "expired",
            "assignment_type": "testapp.ticket",
            "assignment_id": "7",
            "attempt": "2",
        },
    )
    with SMTPServer() as smtp, override_settings(**smtp.settings()):
        notifier = load_notifier(
            "mail",
            {"BACKEND": "django_assignment_timeout.notifiers.email.EmailNotifier"},
        )
        [result] = notifier.send([note])
        [received] = smtp.messages
    assert result.status == Status.SENT
    text = received.message.get_content().replace("\r\n", "\n")
    assert text.startswith(
        "Hello o'brien@example.com,\n\nThe offer of Ticket 7 has expired."
    )
    assert "Reference: testapp.ticket 7, attempt 2." in text
    # The packaged expired_body.txt is not used any more.
    assert "You can not accept it any more" not in text

"""What one email is: the recipient's address, the rendered templates, a stable Message-ID.

Templates are looked up as ``<prefix>/<event>_<name>`` then ``<prefix>/<name>``
(``subject.txt``, ``body.txt`` and the optional ``body.html``), so a project
overrides one event's email, or all of them, from its own templates
directory.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

from django_assignment_timeout.notifiers.base import Notification, recipient_key

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_TEMPLATE_PREFIX",
    "address_of",
    "attribute",
    "build_message",
    "is_one_address",
    "message_id",
    "template_names",
]

DEFAULT_TEMPLATE_PREFIX = "django_assignment_timeout/email"
# An event kind names a template file: only plain words do.
_KIND = re.compile(r"^[a-z0-9_]+$")


def attribute(recipient: Any, name: str) -> Any:
    """``recipient.<name>``, called if it is a method; ``None`` if it has none."""
    value = getattr(recipient, name, None)
    return value() if callable(value) else value


def address_of(recipient: Any, source: Callable[[Any], Any]) -> str:
    """The recipient's address: itself if it is a string with an ``@``, else ``source``'s answer."""
    if isinstance(recipient, str):
        return recipient if "@" in recipient else ""
    value = source(recipient)
    return value if isinstance(value, str) else ""


def is_one_address(address: str) -> bool:
    """Whether ``address`` ("a@b.example" or "Name <a@b.example>") is exactly one address."""
    if "\n" in address or "\r" in address:
        return False
    parsed = email.utils.getaddresses([address])
    if len(parsed) != 1:
        return False  # "a@x.example, b@x.example" is two
    try:
        validate_email(parsed[0][1])
    except ValidationError:
        return False
    return True


def template_names(prefix: str, kind: str, name: str) -> list[str]:
    """Where ``name`` is looked for: the event's own template first, then the generic one."""
    generic = f"{prefix}/{name}"
    return [f"{prefix}/{kind}_{name}", generic] if _KIND.match(kind) else [generic]


def message_id(notification: Notification, recipient: Any, sender: str) -> str:
    """The same id for the same (event, recipient, title): a re-sent copy is recognisable."""
    digest = hashlib.sha256(
        f"{notification.event_id}\0{recipient_key(recipient)}\0{notification.title}".encode()
    ).hexdigest()[:20]
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<assignment-timeout.{notification.event_id}.{digest}@{domain}>"


def build_message(
    notification: Notification,
    recipient: Any,
    address: str,
    *,
    sender: str,
    prefix: str,
) -> EmailMultiAlternatives:
    """Render ``notification`` for ``recipient`` into one email to ``address``.

    Raises the template engine's ``TemplateDoesNotExist`` or
    ``TemplateSyntaxError`` when the subject or text body can not be rendered.
    """
    kind = notification.data.get("event", "")
    context = {
        "notification": notification,
        "recipient": recipient,
        "address": address,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "event": kind,
    }
    # A subject is one line (a header): join what a template spread over several.
    lines = render_to_string(
        template_names(prefix, kind, "subject.txt"), context
    ).splitlines()
    subject = " ".join(line.strip() for line in lines if line.strip())
    text = render_to_string(template_names(prefix, kind, "body.txt"), context)
    headers = {}
    if notification.event_id is not None:
        headers["Message-ID"] = message_id(notification, recipient, sender)
    message = EmailMultiAlternatives(
        subject=subject, body=text, from_email=sender, to=[address], headers=headers
    )
    try:
        html = render_to_string(template_names(prefix, kind, "body.html"), context)
    except TemplateDoesNotExist:
        pass  # plain text only, the default
    else:
        message.attach_alternative(html, "text/html")
    return message

"""Email through Django's mail framework: one message per (notification, recipient).

Configure it in ``ASSIGNMENT_TIMEOUT_NOTIFIERS``::

    "mail": {
        "BACKEND": "django_assignment_timeout.notifiers.email.EmailNotifier",
        "OPTIONS": {"address": "email", "from_email": "dispatch@example.com"},
    }

Options:

* ``address``: where a recipient's address comes from. An attribute name
  (the default, ``"email"``; a method is called), or a callable or its dotted
  path, ``address(recipient) -> str | None``. A string recipient that
  contains ``@`` is its own address. No address is an invalid recipient.
* ``from_email``: the sender (default :setting:`django:DEFAULT_FROM_EMAIL`).
* ``template_prefix``: the template directory (default
  ``"django_assignment_timeout/email"``).
* ``mailer`` (Django 6.1+): the ``MAILERS`` alias to send with (default
  ``"default"``).
* ``email_backend`` (before Django 6.1): a Django email backend's dotted
  path (default :setting:`django:EMAIL_BACKEND`).
* ``timeout``: seconds per SMTP operation (default the connection's own,
  :setting:`django:EMAIL_TIMEOUT` before 6.1, or 10 when that is unset:
  Django's own default is to wait for ever, which would hold the relay).

Each message is rendered from ``<prefix>/<event>_subject.txt`` and
``<prefix>/<event>_body.txt`` (``<event>`` is the notification's
``data["event"]``: ``offered``, ``expired``...), falling back to
``<prefix>/subject.txt`` and ``<prefix>/body.txt``; a ``..._body.html``
found the same way is attached as the HTML alternative. A project overrides
any of them by putting a template with the same name in its own templates
directory. Messages about one event carry a ``Message-ID`` derived from the
event and the recipient, so the copy a retry sends again has the same id.

SMTP answers map to statuses per recipient: a 5xx refusal of the recipient
is an invalid recipient, 4xx answers and lost connections are retried by the
relay, a 5xx refusal of the message is a failure; a refused sender or login
is retried (and logged) until the configuration is fixed.

:mod:`.backend` holds :class:`EmailNotifier` and its checks, :mod:`.messages`
the addresses and templates, :mod:`.smtp` the sending and what the server's
answers mean.
"""

from __future__ import annotations

from django_assignment_timeout.notifiers.email.backend import (
    DEFAULT_TIMEOUT,
    EmailNotifier,
)
from django_assignment_timeout.notifiers.email.messages import DEFAULT_TEMPLATE_PREFIX

__all__ = ["DEFAULT_TEMPLATE_PREFIX", "DEFAULT_TIMEOUT", "EmailNotifier"]

"""The email notifier: its options, their checks, and one email per (notification, recipient)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import django
from django.conf import settings
from django.core import mail
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import select_template
from django.utils.module_loading import import_string

from django_assignment_timeout.exceptions import ConfigurationError
from django_assignment_timeout.notifiers.base import (
    BaseNotifier,
    Notification,
    RecipientResult,
    Status,
)
from django_assignment_timeout.notifiers.email.messages import (
    DEFAULT_TEMPLATE_PREFIX,
    address_of,
    attribute,
    build_message,
    is_one_address,
)
from django_assignment_timeout.notifiers.email.smtp import Ready, deliver, result
from django_assignment_timeout.validation import is_positive_number

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.core.checks import CheckMessage
    from django.core.mail.backends.base import BaseEmailBackend

__all__ = ["DEFAULT_TIMEOUT", "EmailNotifier"]

logger = logging.getLogger("django_assignment_timeout.notifiers.email")

#: Seconds per SMTP operation when neither the option nor EMAIL_TIMEOUT says.
DEFAULT_TIMEOUT = 10.0
_CHECK = "assignment_timeout"


class EmailNotifier(BaseNotifier):
    """Sends each (notification, recipient) as one email through Django's mail framework."""

    known_options = frozenset(
        {
            "address",
            "from_email",
            "template_prefix",
            "email_backend",
            "mailer",
            "timeout",
        }
    )

    # -- configuration ------------------------------------------------------

    def check(self) -> list[CheckMessage]:
        """The address source, sender, templates, email backend and timeout."""
        errors = super().check()
        where = f"Notifier {self.alias!r} (email)"
        try:
            self._address_source()
        except ConfigurationError as err:
            errors.append(
                Error(
                    str(err),
                    hint='An attribute name ("email") or a callable or its dotted path.',
                    id=f"{_CHECK}.E080",
                )
            )
        sender = self._from_email()
        if not isinstance(sender, str) or not is_one_address(sender):
            errors.append(
                Error(
                    f"{where}: from_email {sender!r} is not an email address.",
                    hint="Set the option or DEFAULT_FROM_EMAIL, e.g. "
                    "'Dispatch <dispatch@example.com>'.",
                    id=f"{_CHECK}.E081",
                )
            )
        prefix = self._prefix()
        for name in ("subject.txt", "body.txt"):
            try:
                select_template([f"{prefix}/{name}"])
            except (TemplateDoesNotExist, TemplateSyntaxError) as err:
                errors.append(
                    Error(
                        f"{where}: template {prefix}/{name} can not be loaded "
                        f"({type(err).__name__}).",
                        hint="Use a DjangoTemplates engine with APP_DIRS (the "
                        "packaged templates) or provide the template.",
                        id=f"{_CHECK}.E082",
                    )
                )
        try:
            self._connection()
        except ConfigurationError as err:
            errors.append(
                Error(
                    str(err),
                    hint="On Django 6.1+ name a MAILERS alias (mailer); before, "
                    "the dotted path of an email backend (email_backend).",
                    id=f"{_CHECK}.E083",
                )
            )
        timeout = self.options.get("timeout")
        if timeout is not None and not is_positive_number(timeout):
            errors.append(
                Error(
                    f"{where}: timeout must be a positive number of seconds, not {timeout!r}.",
                    hint="Seconds per SMTP operation, e.g. 10.",
                    id=f"{_CHECK}.E084",
                )
            )
        return errors

    def _from_email(self) -> Any:
        return self.options.get("from_email", settings.DEFAULT_FROM_EMAIL)

    def _prefix(self) -> str:
        return str(self.options.get("template_prefix", DEFAULT_TEMPLATE_PREFIX))

    def _address_source(self) -> Callable[[Any], Any]:
        source = self.options.get("address", "email")
        if isinstance(source, str) and source.isidentifier():
            name = source
            return lambda recipient: attribute(recipient, name)
        if isinstance(source, str):
            try:
                source = import_string(source)
            except ImportError as err:
                raise ConfigurationError(
                    f"Notifier {self.alias!r} (email): can not import address "
                    f"{self.options['address']!r}: {err}"
                ) from err
        if not callable(source):
            raise ConfigurationError(
                f"Notifier {self.alias!r} (email): address must be an attribute "
                f"name or a callable, not {source!r}."
            )
        return source  # type: ignore[no-any-return]

    def _connection(self) -> BaseEmailBackend:
        """A connection of the configured mailer (Django 6.1+) or email backend.

        Django 6.1 configures email backends in ``MAILERS`` and deprecates
        ``get_connection()`` and building a backend directly, so there a
        mailer is taken by alias; older versions take ``email_backend`` or
        ``EMAIL_BACKEND``. Either way, a connection without a timeout gets
        :data:`DEFAULT_TIMEOUT`, and the ``timeout`` option wins.
        """
        where = f"Notifier {self.alias!r} (email)"
        path = self.options.get("email_backend")
        alias = self.options.get("mailer")
        handler = getattr(mail, "mailers", None)
        try:
            if handler is not None:
                if path:
                    raise ConfigurationError(
                        f"{where}: Django {django.get_version()} configures email "
                        "backends in MAILERS; name one with the mailer option "
                        "instead of email_backend."
                    )
                connection: BaseEmailBackend = handler[alias or "default"]
            elif alias not in (None, "default"):
                raise ConfigurationError(
                    f"{where}: the mailer option needs Django 6.1's MAILERS; "
                    "use email_backend."
                )
            else:
                connection = mail.get_connection(path)
        except (ImproperlyConfigured, ImportError, TypeError, ValueError) as err:
            if isinstance(err, ConfigurationError):
                raise
            raise ConfigurationError(
                f"{where}: can not load the email backend: {err}"
            ) from err
        if hasattr(connection, "timeout"):
            timeout = self.options.get("timeout")
            if timeout is not None or connection.timeout is None:
                # Django's default is to wait for ever, holding the relay.
                connection.timeout = float(timeout or DEFAULT_TIMEOUT)
        return connection

    # -- sending ------------------------------------------------------------

    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """Render and send one email per (notification, recipient)."""
        source = self._address_source()
        sender = str(self._from_email())
        prefix = self._prefix()
        results: list[RecipientResult] = []
        ready: list[Ready] = []
        for notification in notifications:
            for recipient in notification.recipients:
                address = address_of(recipient, source)
                if not address:
                    results.append(
                        result(
                            notification,
                            recipient,
                            Status.INVALID_RECIPIENT,
                            "no email address",
                            "NO_ADDRESS",
                        )
                    )
                    continue
                if not is_one_address(address):
                    results.append(
                        result(
                            notification,
                            recipient,
                            Status.INVALID_RECIPIENT,
                            "not an email address",
                            "BAD_ADDRESS",
                        )
                    )
                    continue
                try:
                    message = build_message(
                        notification, recipient, address, sender=sender, prefix=prefix
                    )
                except (TemplateDoesNotExist, TemplateSyntaxError) as err:
                    # A project's template is broken: keep the event until it is fixed.
                    error = f"template error ({type(err).__name__}): {err}"
                    logger.error("Notifier %r: %s", self.alias, error)
                    results.append(
                        result(notification, recipient, Status.RETRY, error, "TEMPLATE")
                    )
                    continue
                ready.append((notification, recipient, message))
        if ready:
            results.extend(deliver(self.alias, self._connection(), ready))
        return results

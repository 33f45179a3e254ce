"""Sending rendered emails over one connection, and what each SMTP answer means.

Per message: a 5xx refusal of the recipient is an invalid recipient and a
4xx one a retry; a refused sender is retried (and logged: it is our
configuration); a refused message is a failure (5xx) or a retry (4xx). A lost
connection or a timeout retries that message and every one after it, without
trying them: the server is gone, and the relay will come back.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from typing import TYPE_CHECKING, Any

from django_assignment_timeout.notifiers.base import (
    Notification,
    RecipientResult,
    Status,
)

if TYPE_CHECKING:
    from django.core.mail import EmailMultiAlternatives
    from django.core.mail.backends.base import BaseEmailBackend

__all__ = ["MAX_ERROR", "Ready", "deliver", "result"]

logger = logging.getLogger("django_assignment_timeout.notifiers.email")

#: Longest error text kept on a result.
MAX_ERROR = 500

#: One rendered email: the notification and recipient it is for, and the message.
Ready = tuple[Notification, Any, "EmailMultiAlternatives"]


def result(
    notification: Notification,
    recipient: Any,
    status: Status,
    error: str = "",
    code: str = "",
) -> RecipientResult:
    """A result whose error text is cut to :data:`MAX_ERROR`."""
    return RecipientResult(
        notification, recipient, status, error=error[:MAX_ERROR], code=code
    )


def deliver(
    alias: str, connection: BaseEmailBackend, ready: list[Ready]
) -> list[RecipientResult]:
    """Send each message of ``ready`` through ``connection``; one result each."""
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as err:
        # Refused login or no server: nothing was sent, everything waits.
        error = _error("could not connect", err)
        logger.error("Notifier %r: %s", alias, error)
        return [result(n, r, Status.RETRY, error, _code(err)) for n, r, _m in ready]
    results: list[RecipientResult] = []
    try:
        for index, (notification, recipient, message) in enumerate(ready):
            try:
                connection.send_messages([message])
            except ValueError as err:
                # Django's own address parser is stricter than is_one_address.
                results.append(
                    result(
                        notification,
                        recipient,
                        Status.INVALID_RECIPIENT,
                        f"not an email address: {err}",
                        "BAD_ADDRESS",
                    )
                )
            except smtplib.SMTPRecipientsRefused as err:
                # One address per message: its (code, reply) is the only entry.
                code, reply = next(iter(err.recipients.values()), (550, b""))
                status = Status.RETRY if 400 <= code < 500 else Status.INVALID_RECIPIENT
                results.append(
                    result(
                        notification,
                        recipient,
                        status,
                        _reply("recipient refused", code, reply),
                        str(code),
                    )
                )
            except smtplib.SMTPSenderRefused as err:
                error = _reply("sender refused", err.smtp_code, err.smtp_error)
                logger.error("Notifier %r: %s", alias, error)
                results.append(
                    result(
                        notification, recipient, Status.RETRY, error, str(err.smtp_code)
                    )
                )
            except smtplib.SMTPServerDisconnected as err:
                results.extend(_give_back(alias, ready[index:], err))
                break
            except smtplib.SMTPResponseException as err:
                # DATA refused: 4xx is a temporary condition, 5xx a refusal of this message.
                status = Status.RETRY if 400 <= err.smtp_code < 500 else Status.FAILED
                results.append(
                    result(
                        notification,
                        recipient,
                        status,
                        _reply("message refused", err.smtp_code, err.smtp_error),
                        str(err.smtp_code),
                    )
                )
            except (smtplib.SMTPException, OSError) as err:
                # Timeouts, resets: the connection is gone; the rest wait for the relay.
                results.extend(_give_back(alias, ready[index:], err))
                break
            else:
                results.append(result(notification, recipient, Status.SENT))
    finally:
        # A dead connection can not be closed politely.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()
    return results


def _give_back(alias: str, rest: list[Ready], err: Exception) -> list[RecipientResult]:
    error = _error("connection lost", err)
    logger.warning(
        "Notifier %r: %s; %d message(s) will be retried", alias, error, len(rest)
    )
    return [result(n, r, Status.RETRY, error, _code(err)) for n, r, _m in rest]


def _reply(what: str, code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"{what}: {code} {text}".strip()


def _error(what: str, err: Exception) -> str:
    return f"{what} ({type(err).__name__}): {err}"


def _code(err: Exception) -> str:
    """The server's reply code when it gave one, else ``CONNECTION`` (a metric's label)."""
    code = getattr(err, "smtp_code", None)
    return str(code) if isinstance(code, int) and code > 0 else "CONNECTION"

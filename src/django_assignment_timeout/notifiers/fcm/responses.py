"""What FCM's answers mean for the relay: one status per message, then per recipient.

:func:`classify` maps one ``send_each`` response to a
:class:`~django_assignment_timeout.notifiers.base.Status`, the retry-after FCM
asked for, a secret-free error text and FCM's error code; :func:`combine`
folds the results of a recipient's tokens into one result.
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any

from firebase_admin import exceptions as firebase_exceptions
from firebase_admin import messaging

from django_assignment_timeout.notifiers.base import (
    Notification,
    RecipientResult,
    Status,
)

logger = logging.getLogger("django_assignment_timeout.notifiers.fcm")

__all__ = ["classify", "combine"]


def classify(
    response: messaging.SendResponse,
) -> tuple[Status, float | None, str, str]:
    """Map one send_each response to (status, retry-after, error, FCM code)."""
    if response.success:
        return Status.SENT, None, "", ""
    exc = response.exception
    code = _fcm_code(exc)
    text = f"{code}: {exc}"[:500]
    if isinstance(exc, (messaging.UnregisteredError, messaging.SenderIdMismatchError)):
        return Status.INVALID_RECIPIENT, None, text, code
    if isinstance(exc, firebase_exceptions.InvalidArgumentError):
        if _token_is_invalid(exc):
            return Status.INVALID_RECIPIENT, None, text, code
        return Status.FAILED, None, text, code
    if isinstance(exc, firebase_exceptions.UnauthenticatedError):
        # Our credentials (UNAUTHENTICATED) or the project's APNs/web-push
        # keys (THIRD_PARTY_AUTH_ERROR): not the recipient's fault; keep the
        # event undelivered until someone fixes the configuration.
        logger.error("FCM refused our credentials: %s", text)
        return Status.RETRY, None, text, code
    if isinstance(
        exc,
        (
            firebase_exceptions.ResourceExhaustedError,  # QUOTA_EXCEEDED
            firebase_exceptions.UnavailableError,
            firebase_exceptions.InternalError,
            firebase_exceptions.DeadlineExceededError,
            firebase_exceptions.UnknownError,
        ),
    ):
        return Status.RETRY, _retry_after(exc), text, code
    return Status.FAILED, None, text, code


def _fcm_code(exc: Any) -> str:
    body = _error_body(exc)
    for detail in body.get("details", []) if isinstance(body, dict) else []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(getattr(exc, "code", "UNKNOWN"))


def _error_body(exc: Any) -> Any:
    response = getattr(exc, "http_response", None)
    if response is None:
        return {}
    try:
        return response.json().get("error", {})
    except (ValueError, AttributeError):
        return {}


def _token_is_invalid(exc: Any) -> bool:
    # INVALID_ARGUMENT covers both a bad token and a bad payload. Only the
    # former may deactivate a token: look at the field FCM blames, then at
    # the message text.
    body = _error_body(exc)
    for detail in body.get("details", []) if isinstance(body, dict) else []:
        for violation in (
            detail.get("fieldViolations", []) if isinstance(detail, dict) else []
        ):
            if violation.get("field") in ("message.token", "message.fid"):
                return True
    return "registration token" in str(exc).lower()


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def combine(
    notification: Notification,
    recipient: Any,
    tried: list[tuple[Status, float | None, str, str]],
) -> RecipientResult:
    """One result per recipient from the results (status, retry-after, error, code) of its tokens."""
    if not tried:
        return RecipientResult(
            notification,
            recipient,
            Status.INVALID_RECIPIENT,
            error="no device token",
            code="NO_TOKEN",
        )
    statuses = {status for status, _after, _error, _code in tried}
    errors = "; ".join(error for _status, _after, error, _code in tried if error)
    for status in (Status.RETRY, Status.SENT, Status.FAILED, Status.INVALID_RECIPIENT):
        if status in statuses:
            chosen = [(a, c) for s, a, _e, c in tried if s == status]
            after = max((a or 0.0 for a, _c in chosen), default=0.0)
            return RecipientResult(
                notification,
                recipient,
                status,
                retry_after=after or None,
                error="" if status == Status.SENT else errors,
                # The first token's code of the status that decided.
                code=next((c for _a, c in chosen if c), ""),
            )
    raise AssertionError("unreachable")  # pragma: no cover

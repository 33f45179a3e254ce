"""The notifier backend interface: what a notification is and what sending returns.

A backend receives a list of :class:`Notification` and returns one
:class:`RecipientResult` per (notification, recipient). It must not raise for
a refusal by the service (that is a result); an exception from ``send`` is
treated by the relay as "retry every recipient of this call later".
"""

from __future__ import annotations

import abc
import datetime
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django_assignment_timeout.backends import BaseBackend
from django_assignment_timeout.exceptions import InvalidNotification, NotifierError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django_assignment_timeout.clock import ClockReading

SETTING = "ASSIGNMENT_TIMEOUT_NOTIFIERS"

__all__ = [
    "SETTING",
    "BaseNotifier",
    "InvalidNotification",
    "Notification",
    "NotifierError",
    "RecipientResult",
    "Status",
    "recipient_key",
    "server_now",
]


class Status(str, enum.Enum):
    """The outcome of a notification for one recipient."""

    #: The service accepted the notification.
    SENT = "sent"
    #: The recipient can not be reached (no device, unregistered token): never retried.
    INVALID_RECIPIENT = "invalid_recipient"
    #: A temporary failure: the relay tries again later (``retry_after`` if given).
    RETRY = "retry"
    #: A permanent failure for this notification (bad payload): the event is marked dead.
    FAILED = "failed"
    #: Not sent: the notification's ``expires_at`` had passed (an offer whose
    #: deadline went by before the relay reached it). Final, like SENT: never retried.
    EXPIRED = "expired"


def recipient_key(recipient: Any) -> str:
    """A stable text key for a recipient: ``"app_label.model:pk"`` for model instances."""
    meta = getattr(recipient, "_meta", None)
    if meta is not None and getattr(recipient, "pk", None) is not None:
        return f"{meta.label_lower}:{recipient.pk}"
    return str(recipient)


@dataclass(frozen=True)
class Notification:
    """One message for one or more recipients.

    ``recipients`` are whatever the project's notifiers understand: model
    instances (a driver, a user) or plain strings. ``data`` maps strings to
    strings (what push services accept). ``collapse_key`` identifies the
    (assignment, attempt) the message is about, so that a rare duplicate
    replaces the earlier copy on the device. ``event_id`` is set by the relay.

    ``expires_at`` (an aware datetime on the database clock, an offer's
    deadline) is when the message stops being useful: a push service is told
    to drop it then, and a notifier that reaches it later does not send it
    (:attr:`Status.EXPIRED`). ``ends_offer`` marks the message that tells the
    assignee's devices an offer has ended (accepted, rejected, expired): it
    replaces the offer's push under the same collapse key. ``clock`` is the
    relay's reading of the database clock for the batch; :meth:`seconds_left`
    measures against it.
    """

    recipients: tuple[Any, ...]
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str = ""
    event_id: int | None = None
    expires_at: datetime.datetime | None = None
    ends_offer: bool = False
    clock: ClockReading | None = None

    def seconds_left(self) -> float | None:
        """Seconds until ``expires_at`` (negative once passed), ``None`` without one.

        Measured on the database clock when the relay gave one (``clock``),
        otherwise on this server's clock.
        """
        if self.expires_at is None:
            return None
        return (self.expires_at - self.now()).total_seconds()

    def now(self) -> datetime.datetime:
        """The time now: on the database clock when the relay gave one (``clock``)."""
        return self.clock.now() if self.clock is not None else server_now()

    def __post_init__(self) -> None:
        # The fields are checked as the caller passed them, whatever the
        # annotations say (typed as object, so mypy does not assume them).
        recipients: object = self.recipients
        if not isinstance(recipients, tuple):
            # Freeze lists so a notification can not change after it was built.
            object.__setattr__(self, "recipients", tuple(self.recipients))
        for name in ("title", "body", "collapse_key"):
            # str() resolves lazy translations once, in the active language.
            value = getattr(self, name)
            if not isinstance(value, str):
                if value is None or not hasattr(value, "__str__"):
                    raise InvalidNotification(f"Notification.{name} must be a string.")
                object.__setattr__(self, name, str(value))
        data: object = self.data
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise InvalidNotification("Notification.data must map strings to strings.")
        expires_at: object = self.expires_at
        if expires_at is not None and (
            not isinstance(expires_at, datetime.datetime)
            or expires_at.utcoffset() is None
        ):
            raise InvalidNotification(
                "Notification.expires_at must be an aware datetime or None."
            )


@dataclass(frozen=True)
class RecipientResult:
    """What happened to one notification for one recipient."""

    notification: Notification
    recipient: Any
    status: Status
    #: Seconds the service asked to wait before trying again (RETRY only).
    retry_after: float | None = None
    #: A short, secret-free description of a failure.
    error: str = ""
    #: The service's error code, if it gave one (FCM's ``UNREGISTERED``):
    #: a short, fixed vocabulary, fit for a metric's label.
    code: str = ""


def server_now() -> datetime.datetime:
    """This server's clock, for a notification sent without the relay's clock reading."""
    return datetime.datetime.now(datetime.timezone.utc)


class BaseNotifier(BaseBackend):
    """Base class of notifier backends, configured like ``CACHES``.

    Built as ``Backend(alias, options)``; subclasses implement :meth:`send`
    and may extend :meth:`check`.
    """

    setting: ClassVar[str] = SETTING
    unknown_option_id: ClassVar[str] = "assignment_timeout.E031"

    @abc.abstractmethod
    def send(self, notifications: Sequence[Notification]) -> list[RecipientResult]:
        """Send ``notifications``; return one result per (notification, recipient)."""

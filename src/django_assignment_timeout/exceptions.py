"""Every exception the library raises: one base class, typed subclasses.

Refused transitions carry an ``http_status`` and a stable ``code`` so that a
consumer's API can map them without a lookup table of its own. Configuration
errors are also :class:`~django.core.exceptions.ImproperlyConfigured`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist


class AssignmentError(Exception):
    """Base class of every exception this library raises."""


class ConfigurationError(AssignmentError, ImproperlyConfigured):
    """A setting or a model declaration is wrong. Names what to fix."""


class MissingExtraError(ConfigurationError):
    """A backend needs an optional dependency that is not installed."""

    def __init__(self, setting: str, extra: str, module: str) -> None:
        self.setting = setting
        self.extra = extra
        self.module = module
        super().__init__(
            f"{setting} selects a backend that needs the '{module}' package, "
            f"which is not installed. Install it with: "
            f"pip install 'django-assignment-timeout[{extra}]'"
        )


class TransitionError(AssignmentError):
    """A lifecycle transition changed no row. Subclasses say why.

    ``pk`` is the assignment's primary key, ``attempt`` the offer attempt the
    caller referred to (when known).
    """

    http_status = 409
    code = "transition_refused"
    default_message = "This assignment can not make that transition."

    def __init__(
        self,
        message: str | None = None,
        *,
        pk: Any = None,
        attempt: int | None = None,
    ) -> None:
        self.pk = pk
        self.attempt = attempt
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        """The human-readable reason."""
        return str(self.args[0])


class AssignmentNotFound(TransitionError, ObjectDoesNotExist):
    """No assignment has that primary key (HTTP 404)."""

    http_status = 404
    code = "not_found"
    default_message = "No such assignment."


class OfferExpired(TransitionError):
    """The offer's deadline has passed (HTTP 410), swept or not."""

    http_status = 410
    code = "offer_expired"
    default_message = "This offer has expired."


class NotOfferedToYou(TransitionError):
    """The assignment is offered to someone else (HTTP 403)."""

    http_status = 403
    code = "not_offered_to_you"
    default_message = "This offer was not made to you."


class NoActiveOffer(TransitionError):
    """There is no offer to answer: it is pending or in another state (HTTP 409)."""

    http_status = 409
    code = "no_active_offer"
    default_message = "There is no active offer for this assignment."


class AlreadyTaken(TransitionError):
    """Someone already accepted the assignment (HTTP 409)."""

    http_status = 409
    code = "already_taken"
    default_message = "This assignment has already been accepted."


class AlreadyOffered(TransitionError):
    """An offer can only be made while the assignment is pending (HTTP 409)."""

    http_status = 409
    code = "already_offered"
    default_message = "This assignment is not pending; it can not be offered."


class AlreadyDispatching(TransitionError):
    """A dispatch chain is already running for this assignment (HTTP 409)."""

    http_status = 409
    code = "already_dispatching"
    default_message = "A dispatch chain is already running for this assignment."


class NoCandidate(TransitionError):
    """A dispatch chain could not start: no candidate is left to offer it to (HTTP 409)."""

    http_status = 409
    code = "no_candidate"
    default_message = "No candidate is left to offer this assignment to."


class OfferNotDue(TransitionError):
    """The offer's deadline has not passed, so it can not be expired yet (HTTP 409)."""

    http_status = 409
    code = "offer_not_due"
    default_message = "This offer's deadline has not passed yet."


class InvalidArgument(AssignmentError, ValueError):
    """A lifecycle call got an argument it can not use (HTTP 400).

    A malformed or unknown key, an assignee that does not exist, an attempt
    that is not an integer, a bad timeout, reason or offer value: what a form,
    a JSON body or a URL can send. ``argument`` names the argument (``"pk"``,
    ``"assignee"``, ``"attempt"``, ``"timeout"``, ``"reason"``, ``"force"``,
    or the name of an offer value). Nothing was written when it is raised.
    """

    http_status = 400
    code = "invalid_argument"

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        self.argument = argument
        super().__init__(message)

    @property
    def message(self) -> str:
        """The human-readable reason."""
        return str(self.args[0])


class SweepConflict(AssignmentError):
    """A locked batch did not update as locked; the batch was rolled back."""


class InvalidNotification(AssignmentError, ValueError):
    """A :class:`~django_assignment_timeout.notifiers.base.Notification` was built with values no backend can send."""


class NotifierError(AssignmentError):
    """A notifier could not talk to its service at all (credentials, auth, transport)."""


__all__ = [
    "AlreadyDispatching",
    "AlreadyOffered",
    "AlreadyTaken",
    "AssignmentError",
    "AssignmentNotFound",
    "ConfigurationError",
    "InvalidArgument",
    "InvalidNotification",
    "MissingExtraError",
    "NoActiveOffer",
    "NoCandidate",
    "NotOfferedToYou",
    "NotifierError",
    "OfferExpired",
    "OfferNotDue",
    "SweepConflict",
    "TransitionError",
]

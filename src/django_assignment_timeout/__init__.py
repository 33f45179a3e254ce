"""Expiring assignments for Django.

This module imports no models and no optional integration, so it is safe to
import before the app registry is ready. The model mixin lives in
:mod:`django_assignment_timeout.models`; every exception the library raises
is importable from here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from django_assignment_timeout.exceptions import (
    AlreadyDispatching,
    AlreadyOffered,
    AlreadyTaken,
    AssignmentError,
    AssignmentNotFound,
    ConfigurationError,
    InvalidArgument,
    InvalidNotification,
    MissingExtraError,
    NoActiveOffer,
    NoCandidate,
    NotifierError,
    NotOfferedToYou,
    OfferExpired,
    OfferNotDue,
    SweepConflict,
    TransitionError,
)

try:
    __version__ = version("django-assignment-timeout")
except PackageNotFoundError:  # pragma: no cover - only when run from a bare checkout
    __version__ = "0+unknown"

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
    "__version__",
]

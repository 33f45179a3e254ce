"""Expiring assignments for Django.

This module imports no models and no optional integration, so it is safe to
import before the app registry is ready. The model mixin lives in
:mod:`django_assignment_timeout.models`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from django_assignment_timeout.exceptions import (
    AlreadyOffered,
    AlreadyTaken,
    AssignmentError,
    AssignmentNotFound,
    ConfigurationError,
    MissingExtraError,
    NoActiveOffer,
    NotOfferedToYou,
    OfferExpired,
    TransitionError,
)

try:
    __version__ = version("django-assignment-timeout")
except PackageNotFoundError:  # pragma: no cover - only when run from a bare checkout
    __version__ = "0+unknown"

__all__ = [
    "AlreadyOffered",
    "AlreadyTaken",
    "AssignmentError",
    "AssignmentNotFound",
    "ConfigurationError",
    "MissingExtraError",
    "NoActiveOffer",
    "NotOfferedToYou",
    "OfferExpired",
    "TransitionError",
    "__version__",
]

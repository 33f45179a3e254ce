"""Firebase Cloud Messaging through firebase-admin 7.x (extra ``fcm``).

:mod:`.backend` holds :class:`FCMNotifier` and its options; :mod:`.app` the
firebase-admin app it sends with; :mod:`.responses` what FCM's answers mean.
Importing this package without the extra raises a
:class:`~django_assignment_timeout.exceptions.MissingExtraError` that names
``pip install 'django-assignment-timeout[fcm]'``.
"""

from __future__ import annotations

from django_assignment_timeout.exceptions import MissingExtraError

try:
    import firebase_admin  # noqa: F401 - only to fail early, naming the extra
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "ASSIGNMENT_TIMEOUT_NOTIFIERS", "fcm", "firebase_admin"
    ) from err

from django_assignment_timeout.notifiers.fcm.app import (
    DEFAULT_HTTP_TIMEOUT,
    REAL_FCM_HOST,
)
from django_assignment_timeout.notifiers.fcm.backend import (
    MAX_CHUNK,
    FCMNotifier,
    default_token_resolver,
)

__all__ = [
    "DEFAULT_HTTP_TIMEOUT",
    "MAX_CHUNK",
    "REAL_FCM_HOST",
    "FCMNotifier",
    "default_token_resolver",
]

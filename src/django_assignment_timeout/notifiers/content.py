"""Deprecated: notification content moved to :mod:`django_assignment_timeout.notifications`.

It is not a notifier backend. Import ``make_notification`` and the rest from
:mod:`django_assignment_timeout.notifications` instead.
"""

from __future__ import annotations

from django_assignment_timeout._deprecation import moved

__getattr__ = moved(__name__, "django_assignment_timeout.notifications")

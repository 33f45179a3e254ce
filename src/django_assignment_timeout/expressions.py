"""Deprecated: the database clock moved to :mod:`django_assignment_timeout.clock`.

Kept so that migrations written against the old path (the existing-table
guide's backfill imported ``DatabaseNow`` and ``deadline_in`` from here)
still run. Import from :mod:`django_assignment_timeout.clock` instead.
"""

from __future__ import annotations

from django_assignment_timeout._deprecation import moved

__getattr__ = moved(__name__, "django_assignment_timeout.clock")

"""The GTS backend project.

Importing the Celery app here (as the GTS guide does) makes ``shared_task``
use it as soon as Django starts, in the web process as in the worker.
"""

from __future__ import annotations

from backend.celery import app as celery_app

__all__ = ["celery_app"]

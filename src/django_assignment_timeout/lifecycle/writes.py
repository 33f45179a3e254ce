"""What every transition's write shares: its transaction and its event's content type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

if TYPE_CHECKING:
    from django.db import models

__all__ = ["content_type_pk", "transition_atomic"]


def transition_atomic(using: str) -> transaction.Atomic:
    """The transaction of one transition, without a savepoint.

    The refusals are raised after the block, and a database error inside it
    leaves the caller's transaction to roll back (PostgreSQL aborts it
    anyway), so a savepoint would only add two statements to every transition.
    """
    return transaction.atomic(using=using, savepoint=False)


def content_type_pk(model: type[models.Model], using: str) -> Any:
    """The content type key events store for ``model`` (ContentType's own cache)."""
    return ContentType.objects.db_manager(using).get_for_model(model).pk

"""``--model APP_LABEL.MODEL`` for the management commands: a label to an adopting model."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import CommandError

from django_assignment_timeout.options import assignment_models

__all__ = ["adopting_models"]


def adopting_models(labels: list[str] | None) -> list[Any] | None:
    """The models named by ``labels`` (None for none given: every model).

    A malformed label, an unknown model or one that does not use the mixin
    is a :class:`~django.core.management.CommandError` that says which.
    """
    if not labels:
        return None
    adopting = set(assignment_models())
    models = []
    for label in labels:
        app_label, dot, name = label.partition(".")
        if not (app_label and dot and name) or "." in name:
            # apps.get_model() would say "not enough values to unpack".
            raise CommandError(
                f"--model {label!r} is not of the form APP_LABEL.MODEL "
                "(e.g. repairs.Repair)."
            )
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError) as err:
            raise CommandError(f"Unknown model {label!r}: {err}") from err
        if model not in adopting:
            raise CommandError(f"{label} does not use ExpiringAssignmentMixin.")
        models.append(model)
    return models

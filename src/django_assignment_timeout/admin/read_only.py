"""The admin of rows only the library writes: read-only, no add, no delete.

Events and dispatch chains change only through the lifecycle, the relay
and the chains' steps; their admin pages show them and never save them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin

if TYPE_CHECKING:
    from django.http import HttpRequest

__all__ = ["ReadOnlyModelAdmin"]


class ReadOnlyModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every field read-only, nothing added or deleted, no save buttons.

    ``extra_readonly_fields`` names the computed fields the detail page
    shows after the model's own.
    """

    extra_readonly_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Every field of the model, then the computed ones."""
        fields = [field.name for field in self.model._meta.fields]
        return [*fields, *self.extra_readonly_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Rows are written by the library only."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """History stays (and an event or a running chain fences a step)."""
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        """The read-only detail page, without save buttons."""
        context = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

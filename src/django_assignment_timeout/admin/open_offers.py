"""The admin actions on open offers: expire now, withdraw, give more time.

Each goes through the lifecycle per selected row (:func:`.lifecycle.expire`,
:func:`.lifecycle.withdraw`, :func:`.lifecycle.extend`); a row it can not
change is left as it is, and each refusal reason is reported once.
:class:`.AssignmentAdminMixin` inherits them.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db import router
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_assignment_timeout import lifecycle
from django_assignment_timeout.admin.offering import report_refusals
from django_assignment_timeout.exceptions import TransitionError

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.db import models
    from django.db.models import QuerySet
    from django.http import HttpRequest

__all__ = ["ADMIN_EXTENSION", "OpenOfferActions"]

#: How much more time the "5 more minutes" action gives each selected offer.
ADMIN_EXTENSION = timedelta(minutes=5)


class OpenOfferActions:
    """The actions that end or extend the selected open offers (a ModelAdmin mixin)."""

    model: type[models.Model]

    @admin.action(
        description=_("Expire the selected offers now"), permissions=["change"]
    )
    def expire_now(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """End each selected open offer now, as if its deadline had passed.

        Writes an ``expired`` event, so the dispatcher is notified as for a
        timed-out offer. Rows with no open offer (pending, accepted) are left
        as they are and reported.
        """
        done = self._force_expire(request, queryset)
        if done:
            self.message_user(  # type: ignore[attr-defined]
                request,
                ngettext(
                    "Expired %(count)d offer; it is pending again.",
                    "Expired %(count)d offers; they are pending again.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )

    @admin.action(description=_("Withdraw the selected offers"), permissions=["change"])
    def withdraw_offer(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Take back each selected open offer before the assignee answers.

        Through :func:`.lifecycle.withdraw`: the offer ends, the row is
        pending again, and a ``withdrawn`` event (its reason names the admin
        user) records it and tells the assignee, so the row can be offered to
        someone else.
        """
        reason = f"withdrawn in the admin by {request.user.get_username()}"
        done = self._each_offer(
            request,
            queryset,
            lambda pk, using: lifecycle.withdraw(
                self.model, pk, reason=reason, using=using
            ),
        )
        if done:
            self.message_user(  # type: ignore[attr-defined]
                request,
                ngettext(
                    "Withdrew %(count)d offer; it can be offered again.",
                    "Withdrew %(count)d offers; they can be offered again.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )

    @admin.action(
        description=_("Give the selected offers 5 more minutes"),
        permissions=["change"],
    )
    def extend_offer(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Move each selected open offer's deadline :data:`ADMIN_EXTENSION` later.

        Through :func:`.lifecycle.extend` (an ``extended`` event tells the
        assignee). An offer already past its deadline is expired instead and
        reported, as are rows with no open offer.
        """
        done = self._each_offer(
            request,
            queryset,
            lambda pk, using: lifecycle.extend(
                self.model, pk, by=ADMIN_EXTENSION, using=using
            ),
        )
        if done:
            self.message_user(  # type: ignore[attr-defined]
                request,
                ngettext(
                    "Gave %(count)d offer 5 more minutes.",
                    "Gave %(count)d offers 5 more minutes.",
                    done,
                )
                % {"count": done},
                messages.SUCCESS,
            )

    def _force_expire(self, request: HttpRequest, queryset: QuerySet[Any]) -> int:
        """``lifecycle.expire(force=True)`` per row; one message per refusal reason."""
        return self._each_offer(
            request,
            queryset,
            lambda pk, using: lifecycle.expire(self.model, pk, force=True, using=using),
        )

    def _each_offer(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        transition: Callable[[Any, str], Any],
    ) -> int:
        """``transition(pk, using)`` per selected row; how many it changed.

        Each refusal is counted, not raised: one message per reason.
        """
        using = router.db_for_write(self.model)
        done = 0
        refused: Counter[str] = Counter()
        examples: dict[str, Any] = {}
        for pk in queryset.values_list("pk", flat=True):
            try:
                transition(pk, using)
            except TransitionError as err:
                refused[err.message] += 1
                examples.setdefault(err.message, pk)
            else:
                done += 1
        report_refusals(self, request, refused, examples)  # type: ignore[arg-type]
        return done

"""A dispatch chain's state: one row per chain, the fence of each of its steps.

A chain offers one assignment to candidate after candidate (see
:mod:`.chains`). Its row records which offer is the chain's latest
(``attempt``): a step from an ended offer to the next one runs only for
that offer, with the row locked, and its new offer is made only if the
assignment is still at that attempt. So a step replayed after a crash, or
taken by two relays at once, makes no second offer.

:class:`DispatchTurn` remembers when each candidate was last offered work by
a chain, for the round-robin ordering: a small table touched only by chain
offers, so models without a policy never pay for it.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

from django_assignment_timeout.clock import DatabaseNow

__all__ = ["ChainEnd", "ChainState", "DispatchChain", "DispatchTurn"]


class ChainState(models.TextChoices):
    """Where a dispatch chain stands."""

    RUNNING = "running", _("running")
    #: A candidate accepted.
    ACCEPTED = "accepted", _("accepted")
    #: No candidate, attempt or time was left: an ``exhausted`` event told the
    #: dispatcher.
    EXHAUSTED = "exhausted", _("exhausted")
    #: The dispatcher took over: withdrew the offer, stopped the chain, or
    #: offered the assignment by hand.
    STOPPED = "stopped", _("stopped")


class ChainEnd(models.TextChoices):
    """Why a chain ended (``DispatchChain.end_reason``, the ``exhausted`` event's reason)."""

    ACCEPTED = "accepted", _("a candidate accepted")
    NO_CANDIDATES = "no_candidates", _("no candidate left")
    MAX_ATTEMPTS = "max_attempts", _("attempts used up")
    DEADLINE = "deadline", _("deadline passed")
    WITHDRAWN = "withdrawn", _("offer withdrawn")
    STOPPED = "stopped", _("stopped by the dispatcher")
    SUPERSEDED = "superseded", _("offered outside the chain")


class DispatchChain(models.Model):
    """One run of an assignment's dispatch policy."""

    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("assignment type"),
    )
    object_pk = models.CharField(_("assignment key"), max_length=64)
    # The assignment's key while the chain runs, NULL once it ended: unique
    # with the content type, so an assignment has at most one running chain.
    # A nullable copy rather than a conditional unique constraint, which
    # MySQL and MariaDB do not build (NULLs never collide on any backend).
    running_pk = models.CharField(  # noqa: DJ001
        _("running for"), max_length=64, null=True, blank=True, editable=False
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ChainState, default=ChainState.RUNNING
    )
    #: The attempt of the chain's first offer.
    first_attempt = models.PositiveIntegerField(_("first attempt"))
    #: The attempt of the chain's latest offer: a step runs only from it.
    attempt = models.PositiveIntegerField(_("latest attempt"))
    #: Offers the chain has made.
    offers = models.PositiveIntegerField(_("offers"), default=0)
    #: The chain's overall deadline (database clock), if its policy has one.
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), db_default=DatabaseNow())
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(
        _("end reason"), max_length=32, choices=ChainEnd, blank=True, default=""
    )

    class Meta:
        verbose_name = _("dispatch chain")
        verbose_name_plural = _("dispatch chains")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "running_pk"],
                name="assignment_chain_one_running",
            ),
        ]
        indexes = [
            models.Index(
                fields=["content_type", "object_pk"], name="assignment_chain_of"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_pk} chain {self.pk} ({self.state})"


class DispatchTurn(models.Model):
    """When a candidate was last offered work by a round-robin chain of one model."""

    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("assignment type"),
    )
    assignee_pk = models.CharField(_("assignee key"), max_length=64)
    last_offered_at = models.DateTimeField(_("last offered at"))

    class Meta:
        verbose_name = _("dispatch turn")
        verbose_name_plural = _("dispatch turns")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "assignee_pk"], name="assignment_turn_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.assignee_pk} at {self.last_offered_at}"

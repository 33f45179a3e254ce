"""Child processes of the dispatch crash tests: each dies with SIGKILL mid-chain.

    python -m tests.support.chain_crash sweep-dies [--hand]
    python -m tests.support.chain_crash relay-dies-after <steps>

``sweep-dies`` sweeps ``Job`` (or, with ``--hand``, ``StockRequest`` with the
hand-written chain below connected) and is killed right after its expiry
commits: its first ``assignment_expired`` receiver is SIGKILL. ``relay-dies-
after`` runs the relay, and is killed once that many chain offers committed,
in the middle of its batch, before it recorded the batch's deliveries.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

import django

#: The hand-written chain's drivers: the name prefix a crash test gives them.
POOL = "k-"


def die(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def offer_next_by_hand(sender: Any, expired: list[Any], **kwargs: Any) -> None:
    """The chain an adopter writes today: offer each expired request to the next
    driver of the pool (also bench/dispatch.py's baseline)."""
    from django_assignment_timeout.exceptions import TransitionError
    from django_assignment_timeout.models import AssignmentEvent
    from tests.testapp.models import Driver, StockRequest

    if sender is not StockRequest:
        return
    for ended in expired:
        # The history query the mixin offers (content type and key: indexed).
        tried = set(
            AssignmentEvent.objects.for_assignment(StockRequest(pk=ended.pk))
            .filter(kind="offered")
            .values_list("assignee_pk", flat=True)
        )
        for driver in Driver.objects.filter(name__startswith=POOL).order_by("pk"):
            if str(driver.pk) not in tried:
                with contextlib.suppress(TransitionError):
                    StockRequest.objects.offer(ended.pk, driver)
                break


def main(argv: list[str]) -> None:
    django.setup()
    from django_assignment_timeout import signals
    from django_assignment_timeout.delivery import deliver_pending
    from django_assignment_timeout.sweep import sweep
    from tests.testapp.models import Job, StockRequest

    if argv[0] == "sweep-dies":
        # Connected first, so it runs before any other receiver: the process
        # dies with the expiries committed and nothing after them done.
        signals.assignment_expired.connect(die, weak=False)
        if "--hand" in argv:
            signals.assignment_expired.connect(offer_next_by_hand, weak=False)
            sweep([StockRequest])
        else:
            sweep([Job])
    elif argv[0] == "relay-dies-after":
        limit = int(argv[1])
        made = []

        def count(*args: Any, **kwargs: Any) -> None:
            made.append(1)
            if len(made) >= limit:
                die()

        signals.assignment_offered.connect(count, weak=False)
        deliver_pending()
    raise SystemExit("the process was meant to be killed")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The lifecycle of an offer: offer, accept, reject, expire.

:mod:`.transitions` holds the four transitions, each one conditional UPDATE
on the database clock plus its event row; :mod:`.refusals` names why a
transition changed no row. Call them through the mixin or its QuerySet
(``request.offer(driver)``, ``StockRequest.objects.accept(pk, driver)``), or
directly with a model class.
"""

from __future__ import annotations

from django_assignment_timeout.lifecycle.transitions import (
    accept,
    expire,
    offer,
    reject,
)

__all__ = ["accept", "expire", "offer", "reject"]

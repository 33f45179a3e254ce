"""The lifecycle of an offer: offer, accept, reject, expire, withdraw, extend.

:mod:`.transitions` holds the transitions that start or end an offer, each
one conditional UPDATE on the database clock plus its event row (expiry and
withdrawal share theirs, :mod:`.ending`); :mod:`.extension` moves an open
offer's deadline; :mod:`.refusals` names why a transition changed no row.
Call them through the mixin or its QuerySet (``request.offer(driver)``,
``StockRequest.objects.accept(pk, driver)``), or directly with a model class.
"""

from __future__ import annotations

from django_assignment_timeout.lifecycle.extension import extend
from django_assignment_timeout.lifecycle.transitions import (
    accept,
    expire,
    offer,
    reject,
    withdraw,
)

__all__ = ["accept", "expire", "extend", "offer", "reject", "withdraw"]

"""What GTS tells whom, in the guide's words.

* An offer goes to the driver it was made to, and lives only as long as the
  offer: a phone that was offline never shows "New Trip Offer" after the
  deadline, and an offer past it is not sent at all.
* When the offer ends (accepted, rejected, expired, withdrawn) the driver's devices get
  the message that replaces the offer's push under the same collapse key.
* An expired offer goes to every EIC of the request's DBS: "Driver Assignment
  Expired" / "{driver_name} did not accept the trip to {dbs_name}. Please
  reassign." (the GTS guide's exact texts).
* A rejected offer goes to the same EICs, so they can reassign at once.
* In auto mode (a dispatch chain), the chain reassigns by itself: its
  offers' expiries and rejections tell the EICs nothing, and the EICs get the
  guide's "Driver Assignment Expired" text once, when the chain is exhausted.

:meth:`logistics.models.StockRequest.assignment_notifications` calls
:func:`for_event`; the library's relay delivers the result through the
configured notifiers (log always, FCM when configured) and retries failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model

from django_assignment_timeout.notifications import (
    OFFER_ENDINGS,
    event_assignee,
    make_notification,
    offer_ended_notification,
    offer_notification,
)

if TYPE_CHECKING:
    from django_assignment_timeout.models import AssignmentEvent
    from django_assignment_timeout.notifiers.base import Notification
    from logistics.models import StockRequest

EXPIRED_TITLE = "Driver Assignment Expired"
EXPIRED_BODY = "{driver_name} did not accept the trip to {dbs_name}. Please reassign."
REJECTED_TITLE = "Driver Rejected Trip"
REJECTED_BODY = "{driver_name} rejected the trip to {dbs_name}. Please reassign."
OFFERED_TITLE = "New Trip Offer"
OFFERED_BODY = (
    "Stock request {request_id} to {dbs_name} is waiting for you. Please accept."
)
#: What replaces the driver's "New Trip Offer" once the offer ends.
ENDED_TEXTS = {
    "accepted": ("Trip Accepted", "You accepted the trip to {dbs_name}."),
    "rejected": ("Trip Declined", "You declined the trip to {dbs_name}."),
    "expired": ("Trip Offer Expired", "The trip offer to {dbs_name} has expired."),
    "withdrawn": (
        "Trip Offer Withdrawn",
        "The trip offer to {dbs_name} was withdrawn.",
    ),
}


def eic_users(stock_request: StockRequest) -> list[Any]:
    """The user accounts of every EIC of the request's DBS."""
    return list(get_user_model().objects.filter(eic__dbs_id=stock_request.dbs_id))


def for_event(
    stock_request: StockRequest, event: AssignmentEvent
) -> list[Notification]:
    """The notifications one event of ``stock_request`` becomes (maybe none)."""
    driver = event_assignee(stock_request, event)
    names = {
        "driver_name": driver.name if driver is not None else "The driver",
        "dbs_name": stock_request.dbs.name,
        "request_id": stock_request.pk,
    }
    notifications = []
    if event.kind == "offered":
        if driver is not None and _is_current(stock_request, event):
            notifications.append(
                offer_notification(
                    stock_request,
                    event,
                    [driver.user],
                    OFFERED_TITLE,
                    OFFERED_BODY.format(**names),
                    data={"dbs_id": str(stock_request.dbs_id)},
                )
            )
        return notifications
    if event.kind in OFFER_ENDINGS and driver is not None:
        title, body = ENDED_TEXTS[event.kind]
        notifications.append(
            offer_ended_notification(
                stock_request,
                event,
                [driver.user],
                title,
                body.format(**names),
                data={"dbs_id": str(stock_request.dbs_id)},
            )
        )
    eic_texts = {
        "expired": (EXPIRED_TITLE, EXPIRED_BODY),
        "rejected": (REJECTED_TITLE, REJECTED_BODY),
        # The chain gave up: the EIC must reassign, as after a manual expiry.
        "exhausted": (EXPIRED_TITLE, EXPIRED_BODY),
    }
    if event.kind in eic_texts and not _chain_moves_on(stock_request, event):
        recipients = eic_users(stock_request)
        if recipients:
            title, body = eic_texts[event.kind]
            notifications.append(
                make_notification(
                    stock_request,
                    event,
                    recipients,
                    title,
                    body.format(**names),
                    data={"dbs_id": str(stock_request.dbs_id)},
                )
            )
    return notifications


def _chain_moves_on(stock_request: StockRequest, event: AssignmentEvent) -> bool:
    # An ending inside a chain is the chain's to handle, not the EIC's.
    from logistics.chains import chain_speaks_for

    return event.kind != "exhausted" and chain_speaks_for(stock_request, event.attempt)


def _is_current(stock_request: StockRequest, event: AssignmentEvent) -> bool:
    # An offer that already ended (expired, answered) is not announced late.
    return (
        stock_request.status == stock_request.Status.ASSIGNING
        and stock_request.assignment_attempt == event.attempt
    )


def device_tokens(recipients: list[Any]) -> dict[Any, list[str]]:
    """The FCM notifier's ``token_resolver``: each user's active device tokens.

    One query for the whole batch. A recipient may be a user or a driver.
    """
    from logistics.models import DeviceToken, Driver

    user_ids = {
        recipient: recipient.user_id if isinstance(recipient, Driver) else recipient.pk
        for recipient in recipients
    }
    by_user: dict[Any, list[str]] = {}
    rows = DeviceToken.objects.filter(user_id__in=set(user_ids.values()), active=True)
    for user_id, token in rows.order_by("id").values_list("user_id", "token"):
        by_user.setdefault(user_id, []).append(token)
    return {recipient: by_user.get(uid, []) for recipient, uid in user_ids.items()}


def deactivate_token(sender: Any, token: str, **kwargs: Any) -> None:
    """``fcm_token_invalid`` receiver: FCM says the device is gone; stop using it."""
    from logistics.models import DeviceToken

    DeviceToken.objects.filter(token=token).update(active=False)

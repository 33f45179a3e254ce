"""One FCM message per (notification, device): its lifespan, collapse and priority.

FCM keeps a message it can not deliver for four weeks unless told otherwise,
so a phone that was offline would show "New assignment" long after the offer
ended. An offer's message (``expires_at`` set) lives exactly as long as the
offer has left: ``android.ttl`` is the time left and the ``apns-expiration``
header the deadline. The message that ends an offer (``ends_offer``) shares
the offer's collapse key, ``apns-collapse-id`` and Android notification tag,
so it replaces the offer's push whether FCM still holds it for an offline
device or the device already shows it.
"""

from __future__ import annotations

import datetime
import math
from typing import TYPE_CHECKING

from firebase_admin import messaging

if TYPE_CHECKING:
    from django_assignment_timeout.notifiers.base import Notification

__all__ = ["DEFAULT_ENDED_OFFER_TTL", "build_message"]

#: Seconds FCM keeps the message that ends an offer for a device that is
#: offline (one day): long enough to replace a push the device shows, short
#: of FCM's four weeks.
DEFAULT_ENDED_OFFER_TTL = 86_400


def build_message(
    notification: Notification,
    token: str,
    *,
    seconds_left: float | None,
    priority: str = "high",
    target: str = "token",
    ended_offer_ttl: float = DEFAULT_ENDED_OFFER_TTL,
) -> messaging.Message:
    """The FCM message of ``notification`` for one device.

    ``seconds_left`` is the time until ``notification.expires_at`` on the
    database clock (``None`` without one); the caller does not send a message
    whose time is up.
    """
    key = notification.collapse_key or None
    headers: dict[str, str] = {}
    if key:
        headers["apns-collapse-id"] = key
    ttl: float | None = None
    if notification.expires_at is not None and seconds_left is not None:
        ttl = max(seconds_left, 0.0)
        # Apple drops the message after this UNIX time; rounded down so it
        # never outlives the deadline.
        headers["apns-expiration"] = str(
            math.floor(notification.expires_at.timestamp())
        )
    elif notification.ends_offer:
        ttl = float(ended_offer_ttl)
        headers["apns-expiration"] = str(
            math.floor(notification.now().timestamp() + ttl)
        )
    if priority == "high":
        # Delivered at once, waking the device (an offer can not wait for
        # the next maintenance window); APNs' "10" is the same.
        headers["apns-priority"] = "10"
    message = messaging.Message(
        data=dict(notification.data),
        notification=messaging.Notification(
            title=notification.title, body=notification.body
        ),
        android=messaging.AndroidConfig(
            collapse_key=key,
            priority=priority,
            ttl=datetime.timedelta(seconds=ttl) if ttl is not None else None,
            # The tag makes a later message replace a notification the
            # device already shows, not only one FCM still holds.
            notification=messaging.AndroidNotification(tag=key) if key else None,
        ),
        apns=messaging.APNSConfig(headers=headers or None),
    )
    if target == "fid":
        message.fid = token
    else:
        # firebase-admin 7.5+ deprecates the token= constructor argument in
        # favour of installation ids (fid), but the v1 API still takes
        # registration tokens in message.token, which is what apps store.
        # Setting the attribute sends the same JSON without touching the
        # process-wide warnings filter.
        message.token = token
    return message

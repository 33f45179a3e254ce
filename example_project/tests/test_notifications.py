"""What the relay sends for GTS: the guide's expiry text to the DBS's EICs, once,
and the driver's offer push, which lives as long as the offer and is replaced
when it ends."""

from __future__ import annotations

import pytest

from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.notifiers import locmem
from django_assignment_timeout.testing import make_due
from logistics.models import EIC, DeviceToken
from logistics.notifications import deactivate_token, device_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_outbox():
    locmem.outbox.clear()
    yield
    locmem.outbox.clear()


def test_offer_notifies_the_driver(stock_request, ravi, eic):
    stock_request.offer(ravi)
    deliver_pending()
    [notification] = locmem.outbox
    assert notification.recipients == (ravi.user,)
    assert notification.title == "New Trip Offer"
    assert notification.data["dbs_id"] == str(stock_request.dbs_id)
    stock_request.refresh_from_db()
    # The push expires with the offer.
    assert notification.expires_at == stock_request.assignment_expires_at
    assert not notification.ends_offer


def test_expiry_notifies_every_eic_of_the_dbs_with_the_guides_text(
    stock_request, ravi, eic, other_dbs, django_user_model
):
    second = EIC.objects.create(
        user=django_user_model.objects.create(username="eic2"), dbs=eic.dbs
    )
    EIC.objects.create(
        user=django_user_model.objects.create(username="far"), dbs=other_dbs
    )
    stock_request.offer(ravi)
    make_due(type(stock_request), stock_request.pk)
    assert stock_request.__class__.objects.expire_due().expired_count == 1
    deliver_pending()
    deliver_pending()  # a second relay run sends nothing again
    expired = [
        n for n in locmem.outbox if n.data["event"] == "expired" and not n.ends_offer
    ]
    assert len(expired) == 1
    assert expired[0].title == "Driver Assignment Expired"
    assert (
        expired[0].body
        == "Ravi did not accept the trip to DBS Kondli. Please reassign."
    )
    assert set(expired[0].recipients) == {eic.user, second.user}
    assert expired[0].collapse_key.endswith(f":{stock_request.pk}:1")
    # Ravi's phone gets the message that replaces the offer it may still show.
    [ended] = [n for n in locmem.outbox if n.ends_offer]
    assert ended.recipients == (ravi.user,)
    assert (ended.title, ended.body) == (
        "Trip Offer Expired",
        "The trip offer to DBS Kondli has expired.",
    )
    assert ended.collapse_key == expired[0].collapse_key


def test_rejection_notifies_the_eic(stock_request, ravi, eic):
    stock_request.offer(ravi)
    stock_request.reject(ravi)
    deliver_pending()
    rejected = [n for n in locmem.outbox if n.data["event"] == "rejected"]
    assert [(n.body, n.ends_offer) for n in rejected] == [
        ("You declined the trip to DBS Kondli.", True),  # Ravi's devices
        ("Ravi rejected the trip to DBS Kondli. Please reassign.", False),
    ]


def test_acceptance_replaces_the_offer_on_the_drivers_devices_only(
    stock_request, ravi, eic
):
    stock_request.offer(ravi)
    stock_request.accept(ravi)
    deliver_pending()
    # The ended offer is not announced; its push is replaced; EICs hear nothing.
    assert [(n.data["event"], n.recipients, n.title) for n in locmem.outbox] == [
        ("accepted", (ravi.user,), "Trip Accepted")
    ]


def test_token_resolver_and_deactivation(eic, ravi):
    DeviceToken.objects.create(user=eic.user, token="t-eic")
    DeviceToken.objects.create(user=ravi.user, token="t-ravi")
    DeviceToken.objects.create(user=ravi.user, token="t-old", active=False)
    assert device_tokens([eic.user, ravi]) == {eic.user: ["t-eic"], ravi: ["t-ravi"]}
    deactivate_token(sender=None, token="t-eic")
    assert device_tokens([eic.user]) == {eic.user: []}

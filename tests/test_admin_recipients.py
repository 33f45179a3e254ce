"""The admin of per-recipient delivery state: the event's inline, the list, the action."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import path, reverse

from django_assignment_timeout.admin import (
    AssignmentEventAdmin,
    RecipientDeliveryAdmin,
)
from django_assignment_timeout.models import (
    AssignmentEvent,
    DeliveryState,
    RecipientDelivery,
    RecipientState,
)
from tests.testapp.models import StockRequest

site = admin.AdminSite(name="recipient_admin")
site.register(AssignmentEvent, AssignmentEventAdmin)
site.register(RecipientDelivery, RecipientDeliveryAdmin)

urlpatterns = [path("admin/", site.urls)]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


def url(name, *args):
    return reverse(f"recipient_admin:assignment_timeout_{name}", args=args)


@pytest.fixture
def dead_event(driver):
    """A dead event: one recipient dead through "push", one delivered later."""
    event = StockRequest.objects.create().offer(driver)
    AssignmentEvent.objects.update(
        delivery_state=DeliveryState.DEAD, next_attempt_at=None, delivery_attempts=3
    )
    RecipientDelivery.objects.bulk_create(
        [
            RecipientDelivery(
                event=event,
                recipient_key="testapp.driver:77",
                backend="push",
                state=RecipientState.DEAD,
                failures=3,
                last_error="retry: UNAVAILABLE",
            ),
            RecipientDelivery(
                event=event,
                recipient_key="testapp.driver:78",
                backend="push",
                state=RecipientState.DELIVERED,
            ),
        ]
    )
    return event


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_an_event_page_lists_its_recipients(admin_client, dead_event):
    html = admin_client.get(
        url("assignmentevent_change", dead_event.pk)
    ).content.decode()
    assert "testapp.driver:77" in html
    assert "retry: UNAVAILABLE" in html
    assert "testapp.driver:78" in html


def test_the_list_filters_dead_recipients_and_links_their_event(
    admin_client, dead_event
):
    response = admin_client.get(url("recipientdelivery_changelist"), {"state": "dead"})
    html = response.content.decode()
    assert "testapp.driver:77" in html
    assert "testapp.driver:78" not in html
    assert f'href="{url("assignmentevent_change", dead_event.pk)}"' in html


def test_requeue_the_selected_dead_recipients_only(admin_client, dead_event):
    rows = list(RecipientDelivery.objects.order_by("pk"))
    response = admin_client.post(
        url("recipientdelivery_changelist"),
        {"action": "requeue_dead", "_selected_action": [str(r.pk) for r in rows]},
        follow=True,
    )
    assert _messages(response) == [
        "Re-queued 1 dead recipient.",
        "1 selected recipient was left alone: not dead, or its event is still "
        "being tried.",
    ]
    states = dict(RecipientDelivery.objects.values_list("recipient_key", "state"))
    assert states == {
        "testapp.driver:77": RecipientState.RETRY,
        "testapp.driver:78": RecipientState.DELIVERED,
    }
    dead_event.refresh_from_db()
    assert (dead_event.delivery_state, dead_event.delivery_attempts) == ("pending", 0)


def test_recipient_rows_are_read_only(admin_client, dead_event):
    row = RecipientDelivery.objects.first()
    response = admin_client.get(url("recipientdelivery_change", row.pk))
    assert response.status_code == 200
    assert not response.context["adminform"].form.fields
    assert admin_client.get(url("recipientdelivery_add")).status_code == 403
    delete = url("recipientdelivery_delete", row.pk)
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403


def test_requeue_with_no_dead_recipient_selected_says_so(admin_client, dead_event):
    delivered = RecipientDelivery.objects.get(state=RecipientState.DELIVERED)
    response = admin_client.post(
        url("recipientdelivery_changelist"),
        {"action": "requeue_dead", "_selected_action": [str(delivered.pk)]},
        follow=True,
    )
    assert _messages(response)[0] == "Re-queued 0 dead recipients."
    dead_event.refresh_from_db()
    assert dead_event.delivery_state == DeliveryState.DEAD


def test_the_event_column_is_plain_text_without_an_event_admin(rf, dead_event):
    bare = admin.AdminSite(name="bare")
    model_admin = RecipientDeliveryAdmin(RecipientDelivery, bare)
    row = RecipientDelivery.objects.first()
    assert model_admin.event_link(row) == str(dead_event.pk)


def test_requeue_of_dead_recipients_only_has_no_warning(admin_client, dead_event):
    dead = RecipientDelivery.objects.get(state=RecipientState.DEAD)
    response = admin_client.post(
        url("recipientdelivery_changelist"),
        {"action": "requeue_dead", "_selected_action": [str(dead.pk)]},
        follow=True,
    )
    assert _messages(response) == ["Re-queued 1 dead recipient."]

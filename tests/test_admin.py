"""The admin integration, driven through the admin's own views.

The models are registered on a site of this module's own (``urlpatterns``
below), as a project would register them, so the pages render for a model
with custom field names (StockRequest) and for one with an integer status and
a UUID key (Ticket).
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import path, reverse

from django_assignment_timeout.admin import (
    AssignmentAdmin,
    AssignmentAdminMixin,
    AssignmentEventAdmin,
    format_seconds,
)
from django_assignment_timeout.admin.open_offers import ADMIN_EXTENSION
from django_assignment_timeout.clock import deadline_in
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import Driver, StockRequest, Ticket

site = admin.AdminSite(name="assignment_admin")


@admin.register(StockRequest, site=site)
class StockRequestAdmin(AssignmentAdminMixin, admin.ModelAdmin):
    list_display = ["id", "status", "note"]
    actions = ["mark_noted"]

    @admin.action(description="Note")
    def mark_noted(self, request, queryset):  # pragma: no cover - only listed
        queryset.update(note="noted")


site.register(Ticket, AssignmentAdmin)
site.register(Driver)
site.register(AssignmentEvent, AssignmentEventAdmin)

urlpatterns = [path("admin/", site.urls)]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


def url(name, *args):
    return reverse(f"assignment_admin:{name}", args=args)


def run_action(client, model_name, action, pks, app="testapp"):
    response = client.post(
        url(f"{app}_{model_name}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def inline_management_data(response):
    """The inline formsets' management form, as the browser would post it back."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        form = inline.formset.management_form
        data.update(
            {form.add_prefix(name): value for name, value in form.initial.items()}
        )
    return data


def listed_pks(response):
    return {str(obj.pk) for obj in response.context["cl"].result_list}


# -- the column and the filters ----------------------------------------------


def test_format_seconds():
    assert format_seconds(75.9) == "1:15"
    assert format_seconds(0) == "0:00"
    assert format_seconds(3723) == "1:02:03"


def test_changelist_shows_state_and_time_left(admin_client, driver, other_driver):
    offered, due, _pending = (StockRequest.objects.create() for _ in range(3))
    offered.offer(driver)
    due.offer(other_driver)
    make_due(StockRequest, due.pk, seconds_ago=65)

    response = admin_client.get(url("testapp_stockrequest_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    # 300 s timeout, read on the database clock a moment after the offer.
    assert re.search(r"Assigning to Ravi, 4:5\d left", html)
    assert re.search(r"Assigning to Sunil, due 1:0\d ago \(not swept yet\)", html)
    assert html.count('class="assignment-offer"') == 2
    # The admin's own column and action survive next to the mixin's.
    actions = dict(response.context["action_form"].fields["action"].choices)
    assert {"mark_noted", "expire_now", "withdraw_offer", "extend_offer"} <= set(
        actions
    )


def test_changelist_renders_integer_status_and_uuid_key(admin_client, user):
    ticket = Ticket.objects.create()
    ticket.offer(user)
    response = admin_client.get(url("testapp_ticket_changelist"))
    assert response.status_code == 200
    assert re.search(r"offered to agent, 1:5\d left", response.content.decode())


def test_offer_filter(admin_client, driver):
    offered, due, swept, long_ago, _pending = (
        StockRequest.objects.create() for _ in range(5)
    )
    for row in (offered, due, swept, long_ago):
        row.offer(driver)
    make_due(StockRequest, due.pk, swept.pk, long_ago.pk)
    assert sweep().expired_count == 3
    due.offer(driver)
    make_due(StockRequest, due.pk)
    AssignmentEvent.objects.filter(object_pk=str(long_ago.pk)).update(
        created_at=deadline_in(-7200)
    )
    changelist = url("testapp_stockrequest_changelist")

    def shown(value):
        return listed_pks(admin_client.get(changelist, {"offer": value}))

    assert shown("offered") == {str(offered.pk)}
    assert shown("due") == {str(due.pk)}
    # due was re-offered after expiring: it still expired within the hour.
    assert shown("expired_recently") == {str(due.pk), str(swept.pk)}
    assert len(listed_pks(admin_client.get(changelist))) == 5


def test_expired_recently_matches_uuid_keys(admin_client, user):
    expired, other = Ticket.objects.create(), Ticket.objects.create()
    expired.offer(user)
    other.offer(user)
    make_due(Ticket, expired.pk)
    sweep()
    response = admin_client.get(
        url("testapp_ticket_changelist"), {"offer": "expired_recently"}
    )
    assert listed_pks(response) == {str(expired.pk)}


# -- actions go through the lifecycle ----------------------------------------


def test_expire_now_ends_open_offers_through_the_lifecycle(admin_client, driver):
    offered = StockRequest.objects.create()
    offered.offer(driver, assignment_mode="MANUAL")

    messages = run_action(admin_client, "stockrequest", "expire_now", [offered.pk])

    assert messages == ["Expired 1 offer; it is pending again."]
    offered.refresh_from_db()
    assert offered.status == "PENDING"
    assert offered.target_driver is None
    assert offered.assignment_mode is None  # a clear_field: the lifecycle ran
    assert offered.assignment_expires_at is None
    kinds = list(
        offered.assignment_events().values_list("kind", "attempt", "assignee_pk")
    )
    assert kinds == [("offered", 1, str(driver.pk)), ("expired", 1, str(driver.pk))]


def test_expire_now_refuses_accepted_and_pending_rows(admin_client, driver):
    accepted, pending, offered = (StockRequest.objects.create() for _ in range(3))
    accepted.offer(driver)
    accepted.accept(driver)
    offered.offer(driver)

    messages = run_action(
        admin_client,
        "stockrequest",
        "expire_now",
        [accepted.pk, pending.pk, offered.pk],
    )

    assert "Expired 1 offer; it is pending again." in messages
    assert (
        f"1 row left unchanged (e.g. {accepted.pk}): "
        "This assignment has already been accepted." in messages
    )
    assert (
        f"1 row left unchanged (e.g. {pending.pk}): "
        "There is no active offer for this assignment." in messages
    )
    accepted.refresh_from_db()
    assert accepted.status == "ASSIGNED"
    assert accepted.target_driver == driver
    assert not accepted.assignment_events().filter(kind="expired").exists()
    assert StockRequest.objects.get(pk=pending.pk).status == "PENDING"


def test_expire_now_with_nothing_to_expire_only_warns(admin_client, driver):
    accepted = StockRequest.objects.create()
    accepted.offer(driver)
    accepted.accept(driver)
    events_before = AssignmentEvent.objects.count()

    messages = run_action(admin_client, "stockrequest", "expire_now", [accepted.pk])

    assert messages == [
        f"1 row left unchanged (e.g. {accepted.pk}): "
        "This assignment has already been accepted."
    ]
    assert AssignmentEvent.objects.count() == events_before


def test_popup_changelist_has_no_actions(admin_client):
    response = admin_client.get(url("testapp_ticket_changelist"), {"_popup": "1"})
    assert response.status_code == 200
    assert response.context["action_form"] is None


def test_withdraw_offer_on_uuid_model(admin_client, user):
    ticket = Ticket.objects.create()
    ticket.offer(user, queue="night")

    messages = run_action(admin_client, "ticket", "withdraw_offer", [ticket.pk])

    assert messages == ["Withdrew 1 offer; it can be offered again."]
    ticket.refresh_from_db()
    assert (ticket.state, ticket.assignee, ticket.queue) == (0, None, "")
    withdrawn = ticket.assignment_events().get(attempt=1, kind="withdrawn")
    assert withdrawn.reason == "withdrawn in the admin by admin"
    assert not ticket.assignment_events().filter(kind="expired").exists()
    # Offered again at once: the withdrawn offer does not block a new one.
    ticket.offer(user)
    assert ticket.assignment_attempt == 2


def test_extend_offer_gives_five_more_minutes_and_reports_the_rest(
    admin_client, driver
):
    open_, due, pending = (StockRequest.objects.create() for _ in range(3))
    deadline = open_.offer(driver).deadline
    due.offer(driver)
    make_due(StockRequest, due.pk)

    messages = run_action(
        admin_client, "stockrequest", "extend_offer", [open_.pk, due.pk, pending.pk]
    )

    assert "Gave 1 offer 5 more minutes." in messages
    assert f"1 row left unchanged (e.g. {due.pk}): This offer has expired." in messages
    assert (
        f"1 row left unchanged (e.g. {pending.pk}): "
        "There is no active offer for this assignment." in messages
    )
    open_.refresh_from_db()
    assert open_.assignment_expires_at == deadline + ADMIN_EXTENSION
    assert open_.assignment_events().get(kind="extended").sequence == 1
    # The offer past its deadline was expired, not revived.
    assert StockRequest.objects.get(pk=due.pk).status == "PENDING"
    assert due.assignment_events().filter(kind="expired").count() == 1


def test_view_only_staff_get_no_lifecycle_actions(client, driver, django_user_model):
    staff = django_user_model.objects.create_user(
        "viewer", password="pw", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_stockrequest"))
    client.force_login(staff)
    offered = StockRequest.objects.create()
    offered.offer(driver)

    response = client.get(url("testapp_stockrequest_changelist"))
    assert response.status_code == 200
    actions = dict(response.context["action_form"].fields["action"].choices)
    assert "mark_noted" in actions  # the project's own, declared without permissions
    assert "expire_now" not in actions
    assert "withdraw_offer" not in actions
    assert "extend_offer" not in actions
    client.post(
        url("testapp_stockrequest_changelist"),
        {"action": "expire_now", "_selected_action": [str(offered.pk)]},
    )
    offered.refresh_from_db()
    assert offered.status == "ASSIGNING"


# -- the change form ---------------------------------------------------------


def test_change_form_makes_lifecycle_fields_read_only(admin_client, driver):
    offered = StockRequest.objects.create()
    offered.offer(driver, assignment_mode="AUTO")
    change = url("testapp_stockrequest_change", offered.pk)

    response = admin_client.get(change)
    assert response.status_code == 200
    form_fields = set(response.context["adminform"].form.fields)
    assert form_fields == {"assignment_mode", "note"}
    # A crafted post can not move the status or the deadline either.
    response = admin_client.post(
        change,
        {
            "status": "PENDING",
            "target_driver": "",
            "assignment_mode": "AUTO",
            "note": "x",
            **inline_management_data(response),
        },
    )
    assert response.status_code == 302
    offered.refresh_from_db()
    assert (offered.status, offered.target_driver, offered.note) == (
        "ASSIGNING",
        driver,
        "x",
    )


def test_status_can_not_be_set_to_offered_by_hand(admin_client):
    pending = StockRequest.objects.create()
    change = url("testapp_stockrequest_change", pending.pk)

    response = admin_client.get(change)
    choices = [
        c[0] for c in response.context["adminform"].form.fields["status"].choices
    ]
    assert "ASSIGNING" not in choices
    assert "IN_TRANSIT" in choices

    management = inline_management_data(response)
    response = admin_client.post(
        change, {"status": "ASSIGNING", "note": "", **management}
    )
    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["status"]
    pending.refresh_from_db()
    assert pending.status == "PENDING"

    # Other statuses stay editable: they are the project's business.
    response = admin_client.post(
        change, {"status": "IN_TRANSIT", "note": "", **management}
    )
    assert response.status_code == 302
    assert StockRequest.objects.get(pk=pending.pk).status == "IN_TRANSIT"


def test_integer_status_choice_is_guarded_too(admin_client):
    ticket = Ticket.objects.create()
    change = url("testapp_ticket_change", ticket.pk)
    data = {"state": "1", "priority": "0", "queue": ""}
    data.update(inline_management_data(admin_client.get(change)))
    response = admin_client.post(change, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["state"]
    assert Ticket.objects.get(pk=ticket.pk).state == 0


def test_add_form_renders_without_lifecycle_fields(admin_client):
    response = admin_client.get(url("testapp_ticket_add"))
    assert response.status_code == 200
    assert "assignee" not in response.context["adminform"].form.fields
    assert not response.context["inline_admin_formsets"]


def test_change_page_shows_history_with_delivery_state(admin_client, user):
    ticket = Ticket.objects.create()
    ticket.offer(user)
    ticket.reject(user, reason="on leave")
    ticket.offer(user)
    AssignmentEvent.objects.filter(kind="rejected").update(
        delivery_state=DeliveryState.DEAD, last_error="token unregistered"
    )

    response = admin_client.get(url("testapp_ticket_change", ticket.pk))

    assert response.status_code == 200
    (history,) = response.context["inline_admin_formsets"]
    rows = [form.original for form in history]
    assert [(e.attempt, e.kind) for e in rows] == [
        (1, "offered"),
        (1, "rejected"),
        (2, "offered"),
    ]
    assert not history.has_add_permission
    html = response.content.decode()
    assert "on leave" in html
    assert "token unregistered" in html
    assert "dead" in html


# -- the event admin ---------------------------------------------------------


@pytest.fixture
def events(driver):
    offered_requests(driver, 3)
    events = list(AssignmentEvent.objects.order_by("id"))
    AssignmentEvent.objects.filter(pk=events[0].pk).update(
        delivery_state=DeliveryState.DEAD,
        delivery_attempts=8,
        next_attempt_at=None,
        last_error="503",
    )
    AssignmentEvent.objects.filter(pk=events[1].pk).update(
        delivery_state=DeliveryState.DELIVERED, next_attempt_at=None
    )
    return events


def test_event_filters(admin_client, events):
    changelist = url("assignment_timeout_assignmentevent_changelist")

    def shown(value):
        response = admin_client.get(changelist, {"delivery": value})
        assert response.status_code == 200
        return {int(pk) for pk in listed_pks(response)}

    assert shown("dead") == {events[0].pk}
    assert shown("delivered") == {events[1].pk}
    assert shown("undelivered") == {events[2].pk}
    html = admin_client.get(changelist).content.decode()
    link = url("testapp_stockrequest_change", events[0].object_pk)
    assert f'href="{link}"' in html


def test_requeue_dead_events(admin_client, events):
    messages = run_action(
        admin_client,
        "assignmentevent",
        "requeue_dead",
        [e.pk for e in events],
        app="assignment_timeout",
    )

    assert messages == [
        "Re-queued 1 dead event.",
        "2 selected events were not dead and were left alone.",
    ]
    dead = AssignmentEvent.objects.get(pk=events[0].pk)
    assert dead.delivery_state == DeliveryState.PENDING
    assert dead.delivery_attempts == 0
    assert dead.next_attempt_at is not None
    assert AssignmentEvent.objects.get(pk=events[1].pk).delivery_state == "delivered"


def test_event_pages_are_read_only(admin_client, events):
    change = url("assignment_timeout_assignmentevent_change", events[0].pk)
    response = admin_client.get(change)
    assert response.status_code == 200
    assert not response.context["adminform"].form.fields
    assert "_save" not in response.content.decode()
    assert (
        admin_client.get(url("assignment_timeout_assignmentevent_add")).status_code
        == 403
    )
    delete = url("assignment_timeout_assignmentevent_delete", events[0].pk)
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AssignmentEvent.objects.filter(pk=events[0].pk).exists()


def test_requeue_with_nothing_dead_says_so(admin_client, events):
    messages = run_action(
        admin_client,
        "assignmentevent",
        "requeue_dead",
        [events[2].pk],
        app="assignment_timeout",
    )
    assert messages == [
        "Re-queued 0 dead events.",
        "1 selected event was not dead and was left alone.",
    ]
    assert AssignmentEvent.objects.get(pk=events[0].pk).delivery_state == "dead"


def test_event_link_is_plain_text_where_the_assignment_has_no_admin(events):
    bare = AssignmentEventAdmin(AssignmentEvent, admin.AdminSite(name="bare"))
    event = AssignmentEvent.objects.get(pk=events[0].pk)
    assert bare.assignment_link(event) == f"stock request {event.object_pk}"

"""The assignment admin as a project may shape it, and actions that change nothing.

A ModelAdmin that hides the assignee from its forms still gets an assignee
field on the "Offer to…" page (the model's plain form field); one that lists
``assignment_state`` itself does not get it twice; ``actions = None`` still
switches actions off. An offer or a withdrawal refused for every selected
row reports only the refusals, with no success message.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import path, reverse

from django_assignment_timeout.admin import AssignmentAdminMixin, AssignmentEventAdmin
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from tests.testapp.models import Driver, StockRequest, Ticket

site = admin.AdminSite(name="edges_admin")


@admin.register(StockRequest, site=site)
class HiddenAssigneeAdmin(AssignmentAdminMixin, admin.ModelAdmin):
    list_display = ["id", "assignment_state", "status"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "target_driver":
            return None  # hidden from this admin's forms
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Ticket, site=site)
class NoActionsAdmin(AssignmentAdminMixin, admin.ModelAdmin):
    actions = None


site.register(Driver)
site.register(AssignmentEvent, AssignmentEventAdmin)

urlpatterns = [path("edges/", site.urls)]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


def changelist(model_name, app="testapp"):
    return reverse(f"edges_admin:{app}_{model_name}_changelist")


def post_action(client, action, pks, **data):
    return client.post(
        changelist("stockrequest"),
        {"action": action, "_selected_action": [str(pk) for pk in pks], **data},
    )


def messages_after(client, response):
    assert response.status_code == 302, response.content
    return [str(m) for m in client.get(response.url).context["messages"]]


def test_offer_to_uses_the_plain_assignee_field_when_the_admin_hides_it(
    admin_client, driver, other_driver
):
    row = StockRequest.objects.create()

    page = post_action(admin_client, "offer_to", [row.pk])

    assert page.status_code == 200
    assert set(page.context["form"].fields["assignee"].queryset) == {
        driver,
        other_driver,
    }
    done = post_action(
        admin_client, "offer_to", [row.pk], post="yes", assignee=str(driver.pk)
    )
    assert messages_after(admin_client, done) == ["Offered 1 row to Ravi."]
    row.refresh_from_db()
    assert (row.status, row.target_driver) == ("ASSIGNING", driver)


def test_an_offer_refused_for_every_row_reports_only_the_refusals(
    admin_client, driver, other_driver
):
    rows = [StockRequest.objects.create() for _ in range(2)]
    for row in rows:
        row.offer(other_driver)

    response = post_action(
        admin_client,
        "offer_to",
        [row.pk for row in rows],
        post="yes",
        assignee=str(driver.pk),
    )

    [message] = messages_after(admin_client, response)
    assert message.startswith("2 rows left unchanged (e.g. ")
    assert message.endswith("This assignment is already offered to someone.")
    for row in rows:
        row.refresh_from_db()
        assert (row.target_driver, row.assignment_attempt) == (other_driver, 1)


def test_withdrawing_rows_with_no_open_offer_reports_only_the_refusal(admin_client):
    row = StockRequest.objects.create()

    response = post_action(admin_client, "withdraw_offer", [row.pk])

    [message] = messages_after(admin_client, response)
    assert message.startswith(f"1 row left unchanged (e.g. {row.pk}): ")
    assert not message.startswith("Withdrew")
    row.refresh_from_db()
    assert (row.status, row.assignment_attempt) == ("PENDING", 0)


def test_a_listed_assignment_state_column_is_not_added_twice(admin_user):
    request = RequestFactory().get("/")
    request.user = admin_user
    columns = site._registry[StockRequest].get_list_display(request)
    assert columns == ["id", "assignment_state", "status"]


def test_actions_none_still_switches_the_admins_actions_off(admin_client, admin_user):
    request = RequestFactory().get("/")
    request.user = admin_user
    assert site._registry[Ticket].get_actions(request) == {}
    response = admin_client.get(changelist("ticket"))
    assert response.status_code == 200
    assert response.context["action_form"] is None


def test_requeueing_only_dead_events_reports_no_event_left_alone(admin_client, driver):
    row = StockRequest.objects.create()
    row.offer(driver)
    [event] = AssignmentEvent.objects.all()
    AssignmentEvent.objects.filter(pk=event.pk).update(
        delivery_state=DeliveryState.DEAD, delivery_attempts=8, next_attempt_at=None
    )

    response = admin_client.post(
        changelist("assignmentevent", app="assignment_timeout"),
        {"action": "requeue_dead", "_selected_action": [str(event.pk)]},
    )

    assert messages_after(admin_client, response) == ["Re-queued 1 dead event."]
    event.refresh_from_db()
    assert event.delivery_state != DeliveryState.DEAD  # back in the relay's hands

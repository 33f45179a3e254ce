"""The admin changes lifecycle state only through the lifecycle.

Offers are made by the "Offer the selected rows to…" action (an intermediate
page choosing the assignee); the change form, the add form and a
``list_editable`` column can not move a row into another lifecycle state,
and saving an edit never writes back what the lifecycle owns. Driven through
the admin's own views, on the site of test_admin.py and on one with
``list_editable``.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import path, reverse

from django_assignment_timeout.admin import AssignmentAdminMixin
from django_assignment_timeout.admin.guard import LIFECYCLE_ONLY
from django_assignment_timeout.models import AssignmentEvent
from tests.test_admin import inline_management_data, run_action, site, url
from tests.testapp.models import Driver, StockRequest, Ticket

editable_site = admin.AdminSite(name="editable_admin")


@admin.register(StockRequest, site=editable_site)
class EditableStockRequestAdmin(AssignmentAdminMixin, admin.ModelAdmin):
    list_display = ["id", "status", "target_driver", "note"]
    list_editable = ["status", "target_driver", "note"]


urlpatterns = [path("admin/", site.urls), path("editable/", editable_site.urls)]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


def post_change(client, model_name, obj, **fields):
    change = url(f"testapp_{model_name}_change", obj.pk)
    data = {**inline_management_data(client.get(change)), **fields}
    return client.post(change, data)


def stock_fields(**fields):
    return {"status": "PENDING", "assignment_mode": "", "note": "", **fields}


def status_choices(response, name="status"):
    return [c[0] for c in response.context["adminform"].form.fields[name].choices]


# -- the change form: no lifecycle state by hand ------------------------------


def test_a_never_offered_row_can_not_be_set_to_accepted(admin_client):
    """It could: accepted with no assignee and no event."""
    pending = StockRequest.objects.create()

    response = admin_client.get(url("testapp_stockrequest_change", pending.pk))
    assert "ASSIGNED" not in status_choices(response)
    response = post_change(
        admin_client, "stockrequest", pending, **stock_fields(status="ASSIGNED")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["status"] == [LIFECYCLE_ONLY]
    pending.refresh_from_db()
    assert pending.status == "PENDING"
    assert not AssignmentEvent.objects.exists()


def test_an_accepted_row_can_not_go_back_to_pending(admin_client, driver):
    """It could, with its assignee kept."""
    accepted = StockRequest.objects.create()
    accepted.offer(driver)
    accepted.accept(driver)

    response = admin_client.get(url("testapp_stockrequest_change", accepted.pk))
    choices = status_choices(response)
    assert "PENDING" not in choices
    assert "ASSIGNING" not in choices
    assert {"ASSIGNED", "IN_TRANSIT", "DELIVERED"} <= set(choices)
    response = post_change(
        admin_client, "stockrequest", accepted, **stock_fields(status="PENDING")
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["status"]
    accepted.refresh_from_db()
    assert (accepted.status, accepted.target_driver) == ("ASSIGNED", driver)


def test_an_accepted_row_moves_on_to_the_projects_own_states(admin_client, driver):
    accepted = StockRequest.objects.create()
    accepted.offer(driver)
    accepted.accept(driver)

    response = post_change(
        admin_client,
        "stockrequest",
        accepted,
        **stock_fields(status="IN_TRANSIT", note="left the depot"),
    )

    assert response.status_code == 302
    accepted.refresh_from_db()
    assert (accepted.status, accepted.target_driver, accepted.note) == (
        "IN_TRANSIT",
        driver,
        "left the depot",
    )
    # ... and not back into the lifecycle from there.
    for status in ("PENDING", "ASSIGNING", "ASSIGNED"):
        response = post_change(
            admin_client, "stockrequest", accepted, **stock_fields(status=status)
        )
        assert response.status_code == 200, status
    assert StockRequest.objects.get(pk=accepted.pk).status == "IN_TRANSIT"


def test_an_integer_status_is_guarded_the_same_way(admin_client, user):
    ticket = Ticket.objects.create()
    ticket.offer(user)
    ticket.accept(user)
    fields = {"id": str(ticket.pk), "priority": "0", "queue": ""}

    response = post_change(admin_client, "ticket", ticket, state="0", **fields)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["state"]
    response = post_change(admin_client, "ticket", ticket, state="3", **fields)
    assert response.status_code == 302, response.context["adminform"].form.errors
    ticket.refresh_from_db()
    assert (ticket.state, ticket.assignee) == (3, user)


def test_the_add_form_creates_pending_rows_only(admin_client):
    add = url("testapp_stockrequest_add")
    response = admin_client.get(add)
    form = response.context["adminform"].form
    assert status_choices(response) == ["PENDING"]
    assert "target_driver" not in form.fields
    management = inline_management_data(response)

    for status in ("ASSIGNED", "IN_TRANSIT", ""):
        response = admin_client.post(add, {**management, **stock_fields(status=status)})
        assert response.status_code == 200, status
        assert response.context["adminform"].form.errors["status"]
    assert not StockRequest.objects.exists()

    response = admin_client.post(add, {**management, **stock_fields(note="new")})
    assert response.status_code == 302
    created = StockRequest.objects.get()
    assert (created.status, created.target_driver, created.note) == (
        "PENDING",
        None,
        "new",
    )


def test_saving_an_edit_never_writes_back_what_the_lifecycle_changed(driver):
    """The row is read when the form is posted; an offer may commit before the save."""
    row = StockRequest.objects.create()
    model_admin = site._registry[StockRequest]
    request = RequestFactory().post("/")
    form_class = model_admin.get_form(request, row, change=True)
    form = form_class(
        data={"status": "PENDING", "assignment_mode": "", "note": "edited"},
        instance=row,
    )
    assert form.is_valid(), form.errors
    obj = form.save(commit=False)

    StockRequest.objects.get(pk=row.pk).offer(driver, assignment_mode="AUTO")
    model_admin.save_model(request, obj, form, change=True)

    saved = StockRequest.objects.get(pk=row.pk)
    assert saved.note == "edited"
    # The offer that committed meanwhile stands, whole.
    assert (saved.status, saved.target_driver, saved.assignment_mode) == (
        "ASSIGNING",
        driver,
        "AUTO",
    )
    assert saved.assignment_expires_at is not None
    assert saved.assignment_attempt == 1


def test_a_status_change_is_not_written_over_a_concurrent_transition(
    driver, admin_user
):
    row = StockRequest.objects.create()
    row.offer(driver)
    row.accept(driver)
    model_admin = site._registry[StockRequest]
    request = RequestFactory().post("/")
    request.user = admin_user
    request._messages = FakeMessages()
    form = model_admin.get_form(request, row, change=True)(
        data={"status": "IN_TRANSIT", "assignment_mode": "", "note": ""},
        instance=row,
    )
    assert form.is_valid(), form.errors
    obj = form.save(commit=False)
    # Meanwhile the project's own code moved it on.
    StockRequest.objects.filter(pk=row.pk).update(status="DELIVERED")

    model_admin.save_model(request, obj, form, change=True)

    assert StockRequest.objects.get(pk=row.pk).status == "DELIVERED"
    assert any("status was not changed" in m for m in request._messages.texts)


class FakeMessages:
    """Enough of the messages storage for message_user() outside a view."""

    def __init__(self):
        self.texts = []

    def add(self, level, message, extra_tags=""):
        self.texts.append(str(message))


# -- list_editable ------------------------------------------------------------


def test_list_editable_can_not_set_lifecycle_states_or_the_assignee(
    admin_client, driver
):
    pending, accepted = StockRequest.objects.create(), StockRequest.objects.create()
    accepted.offer(driver)
    accepted.accept(driver)
    changelist = reverse("editable_admin:testapp_stockrequest_changelist")
    formset = admin_client.get(changelist).context["cl"].formset
    rows = {form.instance.pk: form for form in formset}
    assert rows[pending.pk].fields["target_driver"].disabled
    data = {
        form.add_prefix(name): value
        for form in formset
        for name, value in (
            ("id", form.instance.pk),
            ("status", form.instance.status),
            ("target_driver", ""),
            ("note", ""),
        )
    }
    data.update(
        {
            f"{formset.prefix}-TOTAL_FORMS": "2",
            f"{formset.prefix}-INITIAL_FORMS": "2",
            "_save": "Save",
        }
    )
    data[rows[pending.pk].add_prefix("status")] = "ASSIGNED"
    data[rows[pending.pk].add_prefix("target_driver")] = str(driver.pk)

    response = admin_client.post(changelist, data)

    assert response.status_code == 200  # the list again, with the error
    assert StockRequest.objects.get(pk=pending.pk).status == "PENDING"
    # A post with the lifecycle states left alone saves the rest; the
    # assignee posted for the accepted row is ignored.
    data[rows[pending.pk].add_prefix("status")] = "PENDING"
    data[rows[accepted.pk].add_prefix("note")] = "ok"
    response = admin_client.post(changelist, data)
    assert response.status_code == 302
    pending.refresh_from_db()
    accepted.refresh_from_db()
    assert (pending.status, pending.target_driver) == ("PENDING", None)
    assert (accepted.status, accepted.target_driver, accepted.note) == (
        "ASSIGNED",
        driver,
        "ok",
    )


# -- the "offer to…" action ---------------------------------------------------


def offer_to(client, model_name, pks, **data):
    return client.post(
        url(f"testapp_{model_name}_changelist"),
        {"action": "offer_to", "_selected_action": [str(pk) for pk in pks], **data},
    )


def test_offer_to_asks_for_the_assignee_first(admin_client, driver, other_driver):
    rows = [StockRequest.objects.create() for _ in range(2)]

    response = offer_to(admin_client, "stockrequest", [r.pk for r in rows])

    assert response.status_code == 200
    assert response.template_name[-1] == "admin/assignment_timeout/offer_to.html"
    form = response.context["form"]
    assert set(form.fields["assignee"].queryset) == {driver, other_driver}
    html = response.content.decode()
    for row in rows:
        assert f'name="_selected_action" value="{row.pk}"' in html
    assert 'name="post" value="yes"' in html
    # Nothing was offered yet.
    assert not AssignmentEvent.objects.exists()
    assert set(StockRequest.objects.values_list("status", flat=True)) == {"PENDING"}


def test_offer_to_offers_each_pending_row_through_the_lifecycle(
    admin_client, driver, other_driver
):
    pending = [StockRequest.objects.create() for _ in range(2)]
    taken = StockRequest.objects.create()
    taken.offer(other_driver)

    response = offer_to(
        admin_client,
        "stockrequest",
        [*(r.pk for r in pending), taken.pk],
        post="yes",
        assignee=str(driver.pk),
    )

    assert response.status_code == 302
    messages = [str(m) for m in admin_client.get(response.url).context["messages"]]
    assert messages == [
        "Offered 2 rows to Ravi.",
        f"1 row left unchanged (e.g. {taken.pk}): "
        "This assignment is already offered to someone.",
    ]
    for row in pending:
        row.refresh_from_db()
        assert (row.status, row.target_driver, row.assignment_attempt) == (
            "ASSIGNING",
            driver,
            1,
        )
        assert row.assignment_expires_at is not None
        assert list(row.assignment_events().values_list("kind", "assignee_pk")) == [
            ("offered", str(driver.pk))
        ]
    taken.refresh_from_db()
    assert taken.target_driver == other_driver


def test_offer_to_a_uuid_model_with_a_user_assignee(admin_client, user):
    ticket = Ticket.objects.create()
    messages = run_action_offer(admin_client, "ticket", [ticket.pk], user)
    assert messages == ["Offered 1 row to agent."]
    ticket.refresh_from_db()
    assert (ticket.state, ticket.assignee) == (1, user)
    # Withdrawn and offered again from the admin: the next attempt.
    run_action(admin_client, "ticket", "withdraw_offer", [ticket.pk])
    run_action_offer(admin_client, "ticket", [ticket.pk], user)
    ticket.refresh_from_db()
    assert (ticket.state, ticket.assignment_attempt) == (1, 2)


def run_action_offer(client, model_name, pks, assignee):
    response = offer_to(client, model_name, pks, post="yes", assignee=str(assignee.pk))
    assert response.status_code == 302, response.content
    return [str(m) for m in client.get(response.url).context["messages"]]


@pytest.mark.parametrize("assignee", ["", "999999", "not-a-key"])
def test_offer_to_without_a_valid_assignee_shows_the_page_again(
    admin_client, driver, assignee
):
    row = StockRequest.objects.create()

    response = offer_to(
        admin_client, "stockrequest", [row.pk], post="yes", assignee=assignee
    )

    assert response.status_code == 200
    assert response.context["form"].errors["assignee"]
    row.refresh_from_db()
    assert row.status == "PENDING"
    assert not AssignmentEvent.objects.exists()


def test_offer_to_respects_limit_choices_to(admin_client, driver, other_driver):
    field = StockRequest._meta.get_field("target_driver")
    previous = field.remote_field.limit_choices_to
    field.remote_field.limit_choices_to = {"name": "Ravi"}
    try:
        row = StockRequest.objects.create()
        response = offer_to(admin_client, "stockrequest", [row.pk])
        assert list(response.context["form"].fields["assignee"].queryset) == [driver]
        response = offer_to(
            admin_client,
            "stockrequest",
            [row.pk],
            post="yes",
            assignee=str(other_driver.pk),
        )
        assert response.status_code == 200
        assert StockRequest.objects.get(pk=row.pk).status == "PENDING"
    finally:
        field.remote_field.limit_choices_to = previous


def test_view_only_staff_can_not_offer(client, driver, django_user_model):
    staff = django_user_model.objects.create_user(
        "viewer", password="pw", is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_stockrequest"))
    client.force_login(staff)
    row = StockRequest.objects.create()

    response = client.get(url("testapp_stockrequest_changelist"))
    assert "offer_to" not in dict(
        response.context["action_form"].fields["action"].choices
    )
    offer_to(client, "stockrequest", [row.pk], post="yes", assignee=str(driver.pk))
    assert StockRequest.objects.get(pk=row.pk).status == "PENDING"


def test_the_offer_action_is_listed_with_the_others(admin_client):
    response = admin_client.get(url("testapp_ticket_changelist"))
    actions = dict(response.context["action_form"].fields["action"].choices)
    assert {"offer_to", "expire_now", "withdraw_offer"} <= set(actions)
    assert Driver.objects.count() == 0  # the page needs no assignee to render


def test_a_lifecycle_state_posted_outside_the_choices_is_refused_by_the_validator():
    from django_assignment_timeout.admin.guard import lifecycle_guarded

    form_class = site._registry[StockRequest].get_form(RequestFactory().get("/"))
    guarded = lifecycle_guarded(form_class)
    assert lifecycle_guarded(guarded) is guarded  # guarding twice changes nothing
    form = guarded(
        data=stock_fields(status="ASSIGNED"), instance=StockRequest.objects.create()
    )
    assert not form.is_valid()
    assert str(LIFECYCLE_ONLY) in str(form.errors["status"])

"""Lateness: how long after its deadline each offer was expired, on the database clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import path, reverse

from django_assignment_timeout.admin import AssignmentEventAdmin
from django_assignment_timeout.models import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest

site = admin.AdminSite(name="lateness_admin")
site.register(AssignmentEvent, AssignmentEventAdmin)
urlpatterns = [path("admin/", site.urls)]

pytestmark = pytest.mark.django_db


def _expired_late_by(driver, seconds: float) -> AssignmentEvent:
    row = offered_requests(driver, 1)[0]
    make_due(StockRequest, row.pk, seconds_ago=seconds)
    assert sweep([StockRequest]).expired_count == 1
    return AssignmentEvent.objects.get(object_pk=str(row.pk), kind="expired")


def test_lateness_is_created_at_minus_deadline_for_expired_events(driver):
    event = _expired_late_by(driver, 30)
    annotated = AssignmentEvent.objects.with_lateness().get(pk=event.pk)
    assert isinstance(annotated.lateness, timedelta)
    assert annotated.lateness == event.created_at - event.deadline
    # The deadline was moved 30 s into the past on the database clock, and
    # the sweep ran right after: 30 s late, give or take the test's own time.
    assert timedelta(seconds=30) <= annotated.lateness < timedelta(seconds=40)


def test_other_kinds_have_no_lateness(driver):
    row = offered_requests(driver, 1)[0]
    row.accept(driver)
    kinds = dict(
        AssignmentEvent.objects.with_lateness().values_list("kind", "lateness")
    )
    assert kinds == {"offered": None, "accepted": None}


def test_lateness_sorts_and_filters_in_the_database(driver):
    late = [_expired_late_by(driver, s) for s in (50, 5, 20)]
    ordered = list(
        AssignmentEvent.objects.with_lateness()
        .filter(kind="expired")
        .order_by("lateness")
        .values_list("pk", flat=True)
    )
    assert ordered == [late[1].pk, late[2].pk, late[0].pk]
    over_ten = AssignmentEvent.objects.with_lateness().filter(
        lateness__gt=timedelta(seconds=10)
    )
    assert set(over_ten.values_list("pk", flat=True)) == {late[0].pk, late[2].pk}


@pytest.mark.urls(__name__)
def test_the_event_admin_shows_and_sorts_by_lateness(admin_client, driver):
    late = [_expired_late_by(driver, s) for s in (50, 5, 20)]
    changelist = reverse("lateness_admin:assignment_timeout_assignmentevent_changelist")
    # The changelist puts the action checkbox first.
    column = 1 + AssignmentEventAdmin.list_display.index("expiry_lateness")

    def listed(order):
        response = admin_client.get(changelist, {"kind__exact": "expired", "o": order})
        assert response.status_code == 200
        return response, [obj.pk for obj in response.context["cl"].result_list]

    response, ascending = listed(str(column))
    assert ascending == [late[1].pk, late[2].pk, late[0].pk]
    assert listed(f"-{column}")[1] == ascending[::-1]
    html = response.content.decode()
    shown = AssignmentEvent.objects.with_lateness().get(pk=late[1].pk).lateness
    assert f"{shown.total_seconds():.3f} s" in html
    # An offered event has no lateness: its cell stays empty.
    admin_client.get(changelist, {"kind__exact": "offered"})
    offered = AssignmentEvent.objects.filter(kind="offered").first()
    assert AssignmentEventAdmin(AssignmentEvent, site).expiry_lateness(offered) is None

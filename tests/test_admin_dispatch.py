"""The dispatch chain admin: chains on the change page, start / stop actions, the chain list.

Driven through the admin's own views on a site of this module's own, with
Job (a model with a policy) and StockRequest (one without).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import path, reverse

from django_assignment_timeout.admin import (
    AssignmentAdminMixin,
    DispatchChainAdmin,
)
from django_assignment_timeout.admin.dispatch import chain_offers
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.dispatch_chain import ChainState, DispatchChain
from django_assignment_timeout.events import AssignmentEvent
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.testapp.models import Driver, Job, StockRequest

site = admin.AdminSite(name="dispatch_admin")
site.register(Job, type("JobAdmin", (AssignmentAdminMixin, admin.ModelAdmin), {}))
site.register(
    StockRequest, type("StockAdmin", (AssignmentAdminMixin, admin.ModelAdmin), {})
)
site.register(Driver)
site.register(DispatchChain, DispatchChainAdmin)

urlpatterns = [path("admin/", site.urls)]

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]

DISPATCH_ACTIONS = {"start_auto_dispatch", "stop_auto_dispatch"}


def url(name, *args):
    return reverse(f"dispatch_admin:{name}", args=args)


def run_action(client, model_name, action, pks):
    response = client.post(
        url(f"testapp_{model_name}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def actions_of(client, model_name):
    response = client.get(url(f"testapp_{model_name}_changelist"))
    return set(dict(response.context["action_form"].fields["action"].choices))


@pytest.fixture
def drivers(db):
    return [Driver.objects.create(name=f"p-{i}") for i in range(3)]


def test_dispatch_actions_only_for_models_with_a_policy(admin_client):
    assert actions_of(admin_client, "job") >= DISPATCH_ACTIONS
    assert not DISPATCH_ACTIONS & actions_of(admin_client, "stockrequest")


def test_actions_none_still_switches_the_dispatch_actions_off():
    no_actions = type(
        "NoActions", (AssignmentAdminMixin, admin.ModelAdmin), {"actions": None}
    )
    assert no_actions(Job, site).actions is None


def test_start_action_reports_a_broken_candidates_method(
    admin_client, drivers, monkeypatch
):
    job = Job.objects.create(pool="p-")

    def broken(self):
        raise RuntimeError("roster service down")

    monkeypatch.setattr(Job, "dispatch_candidates", broken)

    [message] = run_action(admin_client, "job", "start_auto_dispatch", [job.pk])

    assert message.startswith(f"1 row left unchanged (e.g. {job.pk}): ")
    assert "RuntimeError" in message
    assert not job.dispatch_chains().exists()


def test_start_action_starts_chains_and_reports_refusals(admin_client, drivers):
    fresh, running, nobody = (
        Job.objects.create(pool="p-"),
        Job.objects.create(pool="p-"),
        Job.objects.create(pool="nobody-"),
    )
    running.start_dispatch()

    messages = run_action(
        admin_client, "job", "start_auto_dispatch", [fresh.pk, running.pk, nobody.pk]
    )

    assert "Started auto-dispatch for 1 row." in messages
    # A row already offered by its chain is refused as not pending; a row
    # whose chain is running but pending again as already dispatching.
    assert (
        f"1 row left unchanged (e.g. {running.pk}): "
        "This assignment is not pending; it can not be offered." in messages
    )
    assert (
        f"1 row left unchanged (e.g. {nobody.pk}): "
        "No candidate is left to offer this assignment to." in messages
    )
    fresh.refresh_from_db()
    assert fresh.status == "offered" and fresh.assignee_id == drivers[0].pk
    assert not nobody.dispatch_chains().exists()


def test_start_action_reports_a_chain_already_running(admin_client, drivers):
    job = Job.objects.create(pool="p-")
    job.start_dispatch()
    # Back to pending without ending the chain (its step has not run yet).
    make_due(Job, job.pk)
    sweep()

    messages = run_action(admin_client, "job", "start_auto_dispatch", [job.pk])

    assert messages == [
        f"1 row left unchanged (e.g. {job.pk}): "
        "A dispatch chain is already running for this assignment."
    ]


def test_stop_action_ends_running_chains(admin_client, drivers):
    running, idle = Job.objects.create(pool="p-"), Job.objects.create(pool="p-")
    running.start_dispatch()

    messages = run_action(
        admin_client, "job", "stop_auto_dispatch", [running.pk, idle.pk]
    )

    assert messages == [
        "Stopped auto-dispatch for 1 row; its open offer, if any, stays open.",
        "1 selected row had no running dispatch chain.",
    ]
    assert running.dispatch_chains().get().state == ChainState.STOPPED
    running.refresh_from_db()
    assert running.status == "offered"  # the offer itself is untouched


def test_change_page_lists_chains_newest_first_with_their_offers(admin_client, drivers):
    job = Job.objects.create(pool="p-")
    job.start_dispatch()
    job.reject(drivers[0], reason="busy")
    deliver_pending()  # the chain's step: offered to p-1
    job.stop_dispatch()
    job.refresh_from_db()
    job.expire(force=True)
    job.start_dispatch()  # a second chain, offered to p-2

    response = admin_client.get(url("testapp_job_change", job.pk))

    assert response.status_code == 200
    inline = next(
        formset
        for formset in response.context["inline_admin_formsets"]
        if formset.formset.model is DispatchChain
    )
    chains = [form.original for form in inline]
    assert [chain.state for chain in chains] == ["running", "stopped"]
    html = response.content.decode()
    assert html.count('class="assignment-chain-offer"') == 3
    for chain in chains:
        assert url("assignment_timeout_dispatchchain_change", chain.pk) in html
    # Newest chain first; in the older one, p-0 rejected and p-1 was open
    # (then expired by hand, after the chain had stopped).
    rows = html.split('class="assignment-chain-offer"')[1:]
    assert "p-2" in rows[0] and "open" in rows[0]
    assert "p-0" in rows[1] and "rejected" in rows[1]
    assert "p-1" in rows[2] and "expired" in rows[2]


def test_change_page_of_a_model_without_a_policy_has_no_chains(
    admin_client, stock_request
):
    response = admin_client.get(url("testapp_stockrequest_change", stock_request.pk))
    assert response.status_code == 200
    assert all(
        formset.formset.model is not DispatchChain
        for formset in response.context["inline_admin_formsets"]
    )


def test_chain_admin_is_read_only_and_links_the_assignment(admin_client, drivers):
    job = Job.objects.create(pool="p-")
    job.start_dispatch()
    chain = job.dispatch_chains().get()

    listing = admin_client.get(url("assignment_timeout_dispatchchain_changelist"))
    page = admin_client.get(url("assignment_timeout_dispatchchain_change", chain.pk))

    assert listing.status_code == page.status_code == 200
    assert url("testapp_job_change", job.pk) in listing.content.decode()
    assert 'class="assignment-chain-offer"' in page.content.decode()
    assert not page.context["adminform"].form.fields  # every field read-only
    assert "p-0" in page.content.decode()
    add = admin_client.get(url("assignment_timeout_dispatchchain_add"))
    assert add.status_code == 403
    # Registered on Django's own site too, as the event admins are.
    assert admin.site.is_registered(DispatchChain)


def test_offers_keep_a_gone_candidates_key_and_survive_a_pruned_history(
    admin_client, drivers
):
    job = Job.objects.create(pool="p-")
    job.start_dispatch()
    chain = job.dispatch_chains().get()
    gone = drivers[0].pk
    drivers[0].delete()

    [offer] = chain_offers(chain)
    assert (offer["candidate"], offer["outcome"]) == (str(gone), "open")

    AssignmentEvent.objects.filter(object_pk=str(job.pk)).delete()  # pruned
    page = admin_client.get(url("testapp_job_change", job.pk))
    assert "No offer recorded" in page.content.decode()

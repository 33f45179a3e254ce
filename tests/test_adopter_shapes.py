"""Shapes of adopting models beyond the test app's: bases, proxies, no AssignmentMeta.

A project's own abstract base over the mixin adds nothing itself (its
concrete children get the deadline constraint and index once); a proxy of an
adopting model is an adopter but adds no second constraint; a model with no
``AssignmentMeta`` takes the documented defaults and passes the checks.
Built with ``isolate_apps``, so they never reach the test database.
"""

from __future__ import annotations

from django.db import models
from django.test.utils import isolate_apps

from django_assignment_timeout.models import ExpiringAssignmentMixin
from django_assignment_timeout.options import is_adopter, options_for
from tests.testapp.models import StockRequest


def deadline_rules(model):
    constraints = [c.name for c in model._meta.constraints if c.name.endswith("dl_ck")]
    indexes = [i.name for i in model._meta.indexes if i.name.endswith("dl_ix")]
    return constraints, indexes


@isolate_apps("tests.testapp")
def test_an_abstract_base_adds_nothing_and_its_children_get_the_rules_once():
    class Crew(models.Model):  # noqa: DJ008 - never shown
        class Meta:
            app_label = "testapp"

    class Offerable(ExpiringAssignmentMixin):
        status = models.CharField(max_length=10, default="pending")
        assignee = models.ForeignKey(
            Crew, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            abstract = True
            app_label = "testapp"

    class Job(Offerable):
        class Meta:
            app_label = "testapp"

    assert not is_adopter(Offerable)
    assert deadline_rules(Offerable) == ([], [])
    assert is_adopter(Job)
    [constraint], [index] = deadline_rules(Job)
    assert constraint.startswith(Job._meta.db_table[:17])
    assert index.startswith(Job._meta.db_table[:17])
    assert Job.check() == []


@isolate_apps("tests.testapp")
def test_a_proxy_of_an_adopting_model_is_an_adopter_without_rules_of_its_own():
    class UrgentRequest(StockRequest):
        class Meta:
            proxy = True
            app_label = "testapp"

    assert is_adopter(UrgentRequest)
    # The table is the parent's, and so are its constraint and index: a
    # second pair under the proxy would name the same table twice.
    assert deadline_rules(UrgentRequest) == ([], [])
    assert len(deadline_rules(StockRequest)[0]) == 1
    assert UrgentRequest.check() == []
    assert options_for(UrgentRequest).status_field == "status"


@isolate_apps("tests.testapp")
def test_a_model_without_assignment_meta_takes_the_defaults_and_passes_checks():
    class Crew(models.Model):  # noqa: DJ008 - never shown
        class Meta:
            app_label = "testapp"

    class Chore(ExpiringAssignmentMixin):
        status = models.CharField(
            max_length=10,
            default="pending",
            choices=[(v, v) for v in ("pending", "offered", "accepted", "done")],
        )
        assignee = models.ForeignKey(
            Crew, null=True, on_delete=models.SET_NULL, related_name="+"
        )

        class Meta:
            app_label = "testapp"

    assert not hasattr(Chore, "AssignmentMeta")
    opts = options_for(Chore)
    assert (opts.status_field, opts.assignee_field) == ("status", "assignee")
    assert (opts.pending, opts.offered, opts.accepted) == (
        "pending",
        "offered",
        "accepted",
    )
    assert Chore.check() == []

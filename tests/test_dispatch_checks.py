"""System checks E090-E095: a dispatch policy that could not run is reported at check time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import models
from django.test.utils import isolate_apps

from django_assignment_timeout.models import ExpiringAssignmentMixin
from django_assignment_timeout.policies import Sequential
from tests.testapp.models import Driver, Job


def _ids(model):
    return sorted(m.id for m in model.check() if m.id.startswith("assignment_timeout"))


def _model(policy):
    class Errand(ExpiringAssignmentMixin):
        status = models.CharField(max_length=10, default="pending")
        assignee = models.ForeignKey(
            Driver, null=True, on_delete=models.SET_NULL, related_name="+"
        )
        note = models.CharField(max_length=10, blank=True, default="")
        candidate_list = ["not", "callable"]

        def candidates(self):
            return []

        AssignmentMeta = type("AssignmentMeta", (), {"dispatch": policy})

        class Meta:
            app_label = "testapp"

    return Errand


def test_the_test_apps_policy_passes():
    assert _ids(Job) == []


@isolate_apps("tests.testapp")
@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Sequential(candidates="candidates"), []),
        (Sequential(candidates="candidates", deadline=timedelta(minutes=5)), []),
        ("sequential", ["assignment_timeout.E090"]),
        (Sequential(candidates="missing"), ["assignment_timeout.E091"]),
        (Sequential(candidates="candidate_list"), ["assignment_timeout.E091"]),
        (
            Sequential(candidates="candidates", order="nearest"),
            ["assignment_timeout.E092"],
        ),
        (
            Sequential(candidates="candidates", max_attempts=0),
            ["assignment_timeout.E093"],
        ),
        (
            Sequential(candidates="candidates", max_attempts=True),
            ["assignment_timeout.E093"],
        ),
        (Sequential(candidates="candidates", deadline=-1), ["assignment_timeout.E094"]),
        (
            Sequential(candidates="candidates", deadline="5m"),
            ["assignment_timeout.E094"],
        ),
        (Sequential(candidates="candidates", offer_values={"note": "auto"}), []),
        (
            Sequential(candidates="candidates", offer_values={"status": "x"}),
            ["assignment_timeout.E095"],
        ),
        (
            Sequential(candidates="candidates", offer_values={"mode": "AUTO"}),
            ["assignment_timeout.E095"],
        ),
        (
            Sequential(candidates="candidates", offer_values={"assignee": None}),
            ["assignment_timeout.E095"],
        ),
        (
            Sequential(candidates="candidates", offer_values=[("note", "x")]),
            ["assignment_timeout.E095"],
        ),
    ],
)
def test_each_mistake_has_its_own_id(policy, expected):
    assert _ids(_model(policy)) == expected

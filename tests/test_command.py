"""``manage.py expire_assignments``: once, dry run, options and failures.

Its ``--loop`` mode: in this process in test_command_loops.py, as a real
process stopped by SIGTERM in test_scheduler_jobs.py.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_assignment_timeout import sweep as sweep_module
from django_assignment_timeout.exceptions import AssignmentError
from django_assignment_timeout.testing import make_due
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest, Ticket


def run(*args):
    out = StringIO()
    call_command("expire_assignments", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_dry_run_counts_and_changes_nothing(driver, user):
    offered_requests(driver, 3)
    Ticket.objects.create().offer(user)
    make_due(StockRequest)
    out = run("--dry-run")
    assert "testapp.StockRequest: 3 due" in out
    assert "testapp.Ticket: 0 due" in out
    assert "would expire 3" in out
    assert StockRequest.objects.due().count() == 3


@pytest.mark.django_db
def test_one_sweep_prints_the_counts(driver, user):
    offered_requests(driver, 5)
    Ticket.objects.create().offer(user)
    make_due(StockRequest)
    make_due(Ticket)
    out = run("--model", "testapp.StockRequest", "--batch-size", "2")
    assert "testapp.StockRequest: 5 expired" in out
    assert "expired 5 in 3 batch(es)" in out
    assert Ticket.objects.due().count() == 1  # not asked for
    assert "expired 1 in" in run()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--model", "testapp.Driver"],
        ["--model", "nope.Nothing"],
        ["--model", "bad"],
        ["--batch-size", "0"],
        ["--interval", "0"],
    ],
)
def test_bad_options_are_command_errors(args):
    with pytest.raises(CommandError):
        run(*args)


@pytest.mark.django_db
def test_a_failed_sweep_exits_non_zero(monkeypatch):
    def broken(*args, **kwargs):
        raise AssignmentError("database said no")

    monkeypatch.setattr(sweep_module, "sweep", broken)
    with pytest.raises(CommandError, match="database said no"):
        run()


@pytest.mark.parametrize("label", ["nope", "a.b.c", ".Repair", "repairs.", ""])
def test_a_malformed_model_label_says_what_form_it_takes(label):
    """It used to say "not enough values to unpack (expected 2, got 1)"."""
    with pytest.raises(CommandError) as raised:
        run("--model", label)
    message = str(raised.value)
    assert f"--model {label!r} is not of the form APP_LABEL.MODEL" in message
    assert "unpack" not in message


@pytest.mark.django_db
def test_an_unknown_model_is_named():
    with pytest.raises(CommandError, match=r"Unknown model 'nope\.Nothing'"):
        run("--model", "nope.Nothing")


def test_loop_and_dry_run_are_refused_together():
    """Either would otherwise be silently ignored (the dry run won)."""
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("--loop", "--dry-run")


@pytest.mark.django_db
def test_the_sweep_interval_setting_is_read_with_the_checks_rule():
    # "often" fails check E011; the loop refuses it the same way, by name,
    # instead of a TypeError comparing a str with 0.
    with (
        override_settings(ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL="often"),
        pytest.raises(CommandError, match="ASSIGNMENT_TIMEOUT_SWEEP_INTERVAL"),
    ):
        run("--loop")

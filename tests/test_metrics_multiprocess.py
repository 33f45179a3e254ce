"""Counters from several processes add up in prometheus_client's multiprocess mode.

Real processes: two ``expire_assignments`` runs (each sweeps, then relays the
events), each with ``PROMETHEUS_MULTIPROC_DIR`` set and metrics on, then this
process's view reads the directory. (This process
imported prometheus_client without the variable, so its own counters are in
memory: everything the scrape counts came from the children's files.)
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from django_assignment_timeout.metrics import MULTIPROC_ENV
from django_assignment_timeout.metrics.views import metrics
from django_assignment_timeout.testing import make_due
from tests.support.children import child_env, run_python
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STOCK = "testapp.StockRequest"


def run(directory, *command):
    env = child_env(settings={"ASSIGNMENT_TIMEOUT_METRICS": True})
    env[MULTIPROC_ENV] = str(directory)
    done = run_python("-m", "django", *command, env=env, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def samples(text):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_sweeper_processes_add_up_in_one_scrape(driver, tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    rows = offered_requests(driver, 3)
    make_due(StockRequest, rows[0].pk, rows[1].pk, seconds_ago=20)
    run(directory, "expire_assignments", "--model", STOCK)
    make_due(StockRequest, rows[2].pk, seconds_ago=20)
    run(directory, "expire_assignments", "--model", STOCK)
    # One file per process that counted: the children, not this process.
    pids = {path.stem.rpartition("_")[2] for path in directory.glob("*.db")}
    assert len(pids) >= 2, sorted(p.name for p in directory.iterdir())

    monkeypatch.setenv(MULTIPROC_ENV, str(directory))
    response = metrics(RequestFactory().get("/metrics"))
    assert response.status_code == 200
    found = samples(response.content.decode())
    stock = (("model", STOCK),)
    expired = (("kind", "expired"), ("model", STOCK))
    assert found["assignment_timeout_events_total", expired] == 3
    lateness = "assignment_timeout_expiry_lateness_seconds"
    assert found[f"{lateness}_count", stock] == 3
    assert found[f"{lateness}_bucket", (("le", "10.0"), ("model", STOCK))] == 0
    assert found[f"{lateness}_bucket", (("le", "30.0"), ("model", STOCK))] == 3
    # The first sweeper's relay told the driver of the third offer and of two
    # expiries (the first two offers had ended: a stale offer is not
    # announced), the second sweeper's of the third expiry.
    sent = (("backend", "default"), ("code", ""), ("result", "sent"))
    assert found["assignment_timeout_notifications_total", sent] == 4
    # The gauges are read from the database by this process, as ever.
    assert found["assignment_timeout_offers_open", stock] == 0
    assert found["assignment_timeout_outbox_backlog", ()] == 0

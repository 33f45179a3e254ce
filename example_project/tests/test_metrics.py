"""The acceptance of the metrics: a scripted GTS run, then ``GET /metrics``.

Offers, an accept and a reject through the API, a relay run, expiries by a
real sweep (``expire_assignments``, which also relays), one more offer left
undelivered; then the scrape is parsed with prometheus_client's own parser.
Counters are compared with a scrape taken before the run (as Prometheus
reads them: the rise between two scrapes), the gauges as they stand.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from django_assignment_timeout.clock import database_now
from django_assignment_timeout.heartbeat import forget_beats
from django_assignment_timeout.testing import make_due
from logistics.models import StockRequest

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "logistics.StockRequest"
ACCEPT = "/api/driver-trips/accept/"
REJECT = "/api/driver-trips/reject/"


def scrape(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def assign(client, request, driver):
    response = client.patch(
        f"/api/eic/stock-requests/{request.pk}/status/",
        {"status": "ASSIGNING", "target_driver": driver.pk},
        format="json",
    )
    assert response.status_code == 200, response.json()


def test_a_scripted_run_is_scraped_with_the_expected_values(
    client, dbs, eic_client, ravi, ravi_client, sunil
):
    # This process's heartbeat throttle remembers earlier tests' sweeps, of
    # rows since flushed: forget it, so this run's sweep stamps its model.
    forget_beats()
    before = scrape(client)
    requests = [
        StockRequest.objects.create(dbs=dbs, quantity_kg=1000 + i) for i in range(4)
    ]
    for request in requests:
        assign(eic_client, request, ravi)
    call_command("deliver_assignment_events")  # four offers, each to Ravi
    first, second, third, fourth = requests
    assert ravi_client.post(ACCEPT, {"stock_request_id": first.pk}).status_code == 200
    body = {"stock_request_id": second.pk, "reason": "Truck in service"}
    assert ravi_client.post(REJECT, body).status_code == 200
    make_due(StockRequest, third.pk, fourth.pk, seconds_ago=20)
    # The sweep expires two, then relays the reject and the expiries to the EIC.
    call_command("expire_assignments")
    assign(eic_client, second, sunil)  # not delivered yet: the backlog
    after = scrape(client)

    def rise(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    events = "assignment_timeout_events_total"
    assert {
        kind: rise(events, model=MODEL, kind=kind)
        for kind in ("offered", "accepted", "rejected", "expired")
    } == {"offered": 5, "accepted": 1, "rejected": 1, "expired": 2}

    lateness = "assignment_timeout_expiry_lateness_seconds"
    assert rise(f"{lateness}_count", model=MODEL) == 2
    assert rise(f"{lateness}_bucket", model=MODEL, le="10.0") == 0
    assert rise(f"{lateness}_bucket", model=MODEL, le="30.0") == 2
    assert 40 <= rise(f"{lateness}_sum", model=MODEL) < 60

    # 4 offers to Ravi, then the reject and 2 expiries to the DBS's one EIC,
    # and the message that replaces each ended offer on Ravi's phone (the
    # accept, the reject and the 2 expiries); the test settings' notifier
    # is the library's in-memory one.
    sent = {"backend": "default", "result": "sent", "code": ""}
    assert rise("assignment_timeout_notifications_total", **sent) == 11

    model = (("model", MODEL),)
    assert after["assignment_timeout_status_up", ()] == 1
    assert after["assignment_timeout_offers_open", model] == 1
    assert after["assignment_timeout_offers_due", model] == 0
    assert after["assignment_timeout_outbox_backlog", ()] == 1
    assert 0 <= after["assignment_timeout_outbox_oldest_age_seconds", ()] < 30
    assert after["assignment_timeout_dead_letters", ()] == 0
    swept = after["assignment_timeout_sweeper_last_run_timestamp_seconds", model]
    assert abs(database_now("default").timestamp() - swept) < 30

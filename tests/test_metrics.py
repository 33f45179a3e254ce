"""Prometheus metrics: the status gauges, the counters fed by signals, the view, checks."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.checks import run_checks
from django.db import DatabaseError
from django.test import RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from django_assignment_timeout import metrics as metrics_package
from django_assignment_timeout import signals
from django_assignment_timeout.clock import database_now, deadline_in
from django_assignment_timeout.delivery import deliver_pending
from django_assignment_timeout.metrics import collector as collector_module
from django_assignment_timeout.metrics import install, receivers
from django_assignment_timeout.metrics.collector import StatusCollector
from django_assignment_timeout.metrics.instruments import EVENTS, REGISTRY
from django_assignment_timeout.metrics.views import metrics, registry
from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.notifiers.base import RecipientResult, Status
from django_assignment_timeout.sweep import sweep
from django_assignment_timeout.testing import make_due
from tests.support.children import run_python
from tests.testapp.data import offered_requests
from tests.testapp.models import StockRequest, Ticket

pytestmark = pytest.mark.django_db

STOCK = "testapp.StockRequest"


@pytest.fixture
def connected():
    """The receivers connected, as ``ASSIGNMENT_TIMEOUT_METRICS = True`` does."""
    receivers.connect()
    yield
    receivers.disconnect()


def sample(name, **labels):
    """This process's value of one sample (0 when it was never recorded)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def gauges(collector=None):
    """{(name, labels as a sorted tuple): value} of what the collector yields."""
    found = {}
    for family in (collector or StatusCollector()).collect():
        for s in family.samples:
            found[s.name, tuple(sorted(s.labels.items()))] = s.value
    return found


def scrape():
    """GET the view; the parsed families by name."""
    response = metrics(RequestFactory().get("/metrics"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        f.name: f for f in text_string_to_metric_families(response.content.decode())
    }


# -- the gauges ----------------------------------------------------------------


def test_an_idle_project_reads_as_zeros():
    found = gauges()
    assert found["assignment_timeout_status_up", ()] == 1
    for model in (STOCK, "testapp.Ticket"):
        labels = (("model", model),)
        assert found["assignment_timeout_offers_open", labels] == 0
        assert found["assignment_timeout_offers_due", labels] == 0
        # Never swept: 0, so "time() - x > 2 * interval" fires.
        assert (
            found["assignment_timeout_sweeper_last_run_timestamp_seconds", labels] == 0
        )
    for name in (
        "assignment_timeout_outbox_backlog",
        "assignment_timeout_outbox_oldest_age_seconds",
        "assignment_timeout_dead_letters",
    ):
        assert found[name, ()] == 0


def test_offers_sweeps_backlog_and_dead_letters_are_read_from_the_database(driver):
    rows = offered_requests(driver, 4)
    make_due(StockRequest, rows[0].pk, seconds_ago=30)
    make_due(StockRequest, rows[1].pk, seconds_ago=10)
    sweep([Ticket])
    first, second, *_ = AssignmentEvent.objects.order_by("id")
    AssignmentEvent.objects.filter(pk=first.pk).update(created_at=deadline_in(-90))
    AssignmentEvent.objects.filter(pk=second.pk).update(
        delivery_state=DeliveryState.DEAD, next_attempt_at=None
    )
    found = gauges()
    stock, ticket = (("model", STOCK),), (("model", "testapp.Ticket"),)
    assert found["assignment_timeout_offers_open", stock] == 4
    assert found["assignment_timeout_offers_due", stock] == 2
    assert found["assignment_timeout_offers_open", ticket] == 0
    assert found["assignment_timeout_sweeper_last_run_timestamp_seconds", stock] == 0
    swept_at = found["assignment_timeout_sweeper_last_run_timestamp_seconds", ticket]
    assert abs(swept_at - database_now("default").timestamp()) < 10
    assert found["assignment_timeout_outbox_backlog", ()] == 3
    assert 90 <= found["assignment_timeout_outbox_oldest_age_seconds", ()] < 100
    assert found["assignment_timeout_dead_letters", ()] == 1


def test_the_collector_takes_models_and_a_database():
    found = gauges(StatusCollector([Ticket], using="default"))
    assert ("assignment_timeout_offers_open", (("model", "testapp.Ticket"),)) in found
    assert ("assignment_timeout_offers_open", (("model", STOCK),)) not in found


def test_a_database_error_leaves_the_gauges_out_and_says_so(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(collector_module, "outbox_status", broken)
    with caplog.at_level(logging.ERROR, "django_assignment_timeout.metrics"):
        found = gauges()
    assert found == {("assignment_timeout_status_up", ()): 0}
    assert "Could not read the assignment status" in caplog.text
    # The view still answers, with the counters.
    assert "assignment_timeout_events" in scrape()


def test_the_collector_describes_nothing_so_registering_it_runs_no_query(
    django_assert_num_queries,
):
    with django_assert_num_queries(0):
        assert StatusCollector().describe() == []


# -- the counters and the histogram -------------------------------------------


def test_each_committed_transition_is_counted_by_model_and_kind(
    connected, django_capture_on_commit_callbacks, driver
):
    before = {
        kind: sample("assignment_timeout_events_total", model=STOCK, kind=kind)
        for kind in (
            "offered",
            "accepted",
            "rejected",
            "expired",
            "withdrawn",
            "extended",
        )
    }
    with django_capture_on_commit_callbacks(execute=True):
        rows = offered_requests(driver, 5)
    with django_capture_on_commit_callbacks(execute=True):
        rows[4].extend(by=60)
        rows[4].withdraw()
    with django_capture_on_commit_callbacks(execute=True):
        rows[0].accept(driver)
    with django_capture_on_commit_callbacks(execute=True):
        rows[1].reject(driver, reason="busy")
    make_due(StockRequest, rows[2].pk, rows[3].pk, seconds_ago=40)
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep([StockRequest]).expired_count == 2
    after = {
        kind: sample("assignment_timeout_events_total", model=STOCK, kind=kind)
        for kind in before
    }
    assert {k: after[k] - before[k] for k in before} == {
        "offered": 5,
        "accepted": 1,
        "rejected": 1,
        "expired": 2,
        "withdrawn": 1,
        "extended": 1,
    }


def test_expiry_lateness_is_deadline_to_commit_on_the_database_clock(
    connected, django_capture_on_commit_callbacks, driver
):
    name = "assignment_timeout_expiry_lateness_seconds"
    count = sample(f"{name}_count", model=STOCK)
    under_30 = sample(f"{name}_bucket", model=STOCK, le="30.0")
    under_60 = sample(f"{name}_bucket", model=STOCK, le="60.0")
    total = sample(f"{name}_sum", model=STOCK)
    rows = offered_requests(driver, 3)
    make_due(StockRequest, rows[0].pk, rows[1].pk, seconds_ago=45)
    with django_capture_on_commit_callbacks(execute=True):
        sweep([StockRequest])
    # Ended before its deadline: not late, so not observed.
    with django_capture_on_commit_callbacks(execute=True):
        rows[2].expire(force=True)
    assert sample(f"{name}_count", model=STOCK) - count == 2
    assert sample(f"{name}_bucket", model=STOCK, le="30.0") == under_30
    assert sample(f"{name}_bucket", model=STOCK, le="60.0") - under_60 == 2
    assert 90 <= sample(f"{name}_sum", model=STOCK) - total < 110
    assert sample("assignment_timeout_events_total", model=STOCK, kind="expired") >= 3


def test_a_failing_metric_is_logged_and_never_fails_the_transition(
    connected, django_capture_on_commit_callbacks, driver, monkeypatch, caplog
):
    def broken(**labels):
        raise RuntimeError("metrics on fire")

    monkeypatch.setattr(EVENTS, "labels", broken)
    with caplog.at_level(logging.ERROR, "django_assignment_timeout.metrics"):
        with django_capture_on_commit_callbacks(execute=True):
            (row,) = offered_requests(driver, 1)
        make_due(StockRequest, row.pk)
        with django_capture_on_commit_callbacks(execute=True):
            assert sweep([StockRequest]).expired_count == 1
    assert caplog.text.count("Recording a metric failed") == 2
    assert StockRequest.objects.get(pk=row.pk).status == "PENDING"


def test_notification_results_are_counted_by_backend_result_and_code(
    connected, driver, settings
):
    settings.ASSIGNMENT_TIMEOUT_NOTIFIERS = {
        "default": {
            "BACKEND": "django_assignment_timeout.notifiers.locmem.LocmemNotifier"
        },
        "broken": {"BACKEND": "tests.test_delivery.ScriptedNotifier"},
    }
    from tests.test_delivery import ScriptedNotifier

    ScriptedNotifier.explode = True
    try:
        sent = sample(
            "assignment_timeout_notifications_total",
            backend="default",
            result="sent",
            code="",
        )
        failed = sample(
            "assignment_timeout_notifications_total",
            backend="broken",
            result="retry",
            code="EXCEPTION",
        )
        offered_requests(driver, 3)  # each offer notifies its driver
        deliver_pending(max_batches=1)
    finally:
        ScriptedNotifier.explode = False
    labels = {"backend": "default", "result": "sent", "code": ""}
    assert sample("assignment_timeout_notifications_total", **labels) - sent == 3
    labels = {"backend": "broken", "result": "retry", "code": "EXCEPTION"}
    assert sample("assignment_timeout_notifications_total", **labels) - failed == 3


def test_a_service_error_code_becomes_the_code_label(connected):
    before = sample(
        "assignment_timeout_notifications_total",
        backend="push",
        result="invalid_recipient",
        code="UNREGISTERED",
    )
    results = [
        RecipientResult(None, r, Status.INVALID_RECIPIENT, code="UNREGISTERED")
        for r in ("a", "b")
    ]
    signals.notifications_sent.send(sender=object, notifier="push", results=results)
    after = sample(
        "assignment_timeout_notifications_total",
        backend="push",
        result="invalid_recipient",
        code="UNREGISTERED",
    )
    assert after - before == 2


def test_without_receivers_the_relay_sends_no_signal(driver, monkeypatch):
    sent = []
    monkeypatch.setattr(
        signals.notifications_sent, "send_robust", lambda **kw: sent.append(kw)
    )
    offered_requests(driver, 1)
    assert deliver_pending().delivered == 1
    assert sent == []


# -- install, the view, the checks ---------------------------------------------


def test_install_connects_the_receivers_only_when_the_setting_is_on(settings):
    settings.ASSIGNMENT_TIMEOUT_METRICS = False
    assert install() is False
    assert not signals.assignment_offered.has_listeners(StockRequest)
    settings.ASSIGNMENT_TIMEOUT_METRICS = True
    try:
        assert install() is True
        assert install() is True  # idempotent: one receiver, not two
        live = [
            r
            for r in signals.assignment_offered.receivers
            if r[0][0].startswith("assignment_timeout.metrics")
        ]
        assert len(live) == 1
    finally:
        receivers.disconnect()
    assert not signals.assignment_offered.has_listeners(StockRequest)


def test_the_view_serves_gauges_and_counters_in_the_text_format(driver):
    offered_requests(driver, 2)
    families = scrape()
    assert families["assignment_timeout_outbox_backlog"].samples[0].value == 2
    assert families["assignment_timeout_events"].type == "counter"
    assert families["assignment_timeout_expiry_lateness_seconds"].type == "histogram"
    response = metrics(RequestFactory().post("/metrics"))
    assert response.status_code == 405


def test_in_multiprocess_mode_the_view_reads_the_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(metrics_package.MULTIPROC_ENV, str(tmp_path))
    collectors = list(registry()._collector_to_names)
    assert [type(c).__name__ for c in collectors] == [
        "StatusCollector",
        "MultiProcessCollector",
    ]


def _ids():
    return sorted(
        m.id for m in run_checks() if m.id and m.id.startswith("assignment_timeout.E06")
    )


def test_check_e060_wants_a_bool(settings):
    settings.ASSIGNMENT_TIMEOUT_METRICS = "yes"
    assert _ids() == ["assignment_timeout.E060"]
    settings.ASSIGNMENT_TIMEOUT_METRICS = False
    assert _ids() == []


def test_check_e061_names_the_extra_when_prometheus_client_is_missing(
    settings, monkeypatch
):
    settings.ASSIGNMENT_TIMEOUT_METRICS = True
    assert _ids() == []
    from django_assignment_timeout.checks import metrics_settings

    real = metrics_settings.importlib.util.find_spec
    monkeypatch.setattr(
        metrics_settings.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "prometheus_client" else real(name, *a),
    )
    (error,) = [m for m in run_checks() if m.id == "assignment_timeout.E061"]
    assert error.hint == "pip install 'django-assignment-timeout[metrics]'"


def test_check_e062_wants_a_writable_multiprocess_directory(
    settings, monkeypatch, tmp_path
):
    settings.ASSIGNMENT_TIMEOUT_METRICS = True
    monkeypatch.setenv(metrics_package.MULTIPROC_ENV, str(tmp_path / "missing"))
    assert _ids() == ["assignment_timeout.E062"]
    monkeypatch.setenv(metrics_package.MULTIPROC_ENV, str(tmp_path))
    assert _ids() == []


@pytest.mark.parametrize(
    "module",
    [
        "django_assignment_timeout.metrics.views",
        "django_assignment_timeout.metrics.receivers",
        "django_assignment_timeout.metrics.collector",
    ],
)
def test_the_missing_extra_names_the_pip_command(module):
    done = run_python(
        "-m", "tests.support.missing_extra", "prometheus_client", module, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'django-assignment-timeout[metrics]'" in done.stdout


MISSING_BUT_ON = """
import json, sys
sys.modules["prometheus_client"] = None  # not installed
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django_assignment_timeout"],
    ASSIGNMENT_TIMEOUT_METRICS=True,
)
import django
django.setup()  # ready() must not fail: the check has to be able to say why
from django.core.checks import run_checks
from django_assignment_timeout import signals
from django_assignment_timeout.metrics import install
print(json.dumps({
    "installed": install(),
    "connected": bool(signals.assignment_offered.receivers),
    "checks": [m.id for m in run_checks() if m.id.endswith(("E060", "E061", "E062"))],
}))
"""


def test_on_without_the_extra_the_app_starts_and_check_e061_says_why():
    done = run_python("-c", MISSING_BUT_ON, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "installed": False,
        "connected": False,
        "checks": ["assignment_timeout.E061"],
    }
    assert "pip install 'django-assignment-timeout[metrics]'" in done.stderr


def test_a_scrape_costs_the_same_few_queries_however_many_rows(driver):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_assignment_timeout.options import assignment_models

    def queries():
        with CaptureQueriesContext(connection) as seen:
            gauges()
        return len(seen)

    idle = queries()
    offered_requests(driver, 30)
    make_due(StockRequest, *StockRequest.objects.values_list("pk", flat=True)[:10])
    sweep()
    # The clock, then per model: open, due, oldest deadline, heartbeat; then
    # the backlog and the dead letters.
    models = len(assignment_models())
    assert queries() == idle == 1 + 4 * models + 2

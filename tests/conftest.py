"""Shared fixtures: drivers, users, and moving stored deadlines; what to skip.

freezegun does not move the database clock, so tests move the stored
deadlines instead, with :func:`django_assignment_timeout.testing.make_due`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from django_assignment_timeout.heartbeat import forget_beats
from django_assignment_timeout.notifiers import locmem
from tests import services
from tests.support.children import Children
from tests.support.fcm_fake import FakeFCM
from tests.testapp.models import Driver, StockRequest, Ticket

TESTS = Path(__file__).resolve().parent

#: What installs an optional part of the suite, and the modules that show it
#: is there (any one of them).
OPTIONAL = {
    "celery": ("the celery extra", ["celery"]),
    "fcm": ("the fcm extra", ["firebase_admin"]),
    "health": ("the health extra", ["health_check"]),
    "huey": ("the huey extra", ["huey"]),
    "metrics": ("the metrics extra", ["prometheus_client"]),
    # Django 6.0+ ships the tasks framework; 5.2 needs the backport.
    "tasks": ("the tasks extra", ["django.tasks", "django_tasks"]),
    # DRF stands for the whole group, as in the browser tests.
    "example": ("the example dependency group", ["rest_framework"]),
}

#: The test modules (relative to tests/) that import or run an optional part.
NEEDS = {
    "test_celery_app_choice.py": ["celery"],
    "test_celery_early_run.py": ["celery"],
    "test_celery_scheduler.py": ["celery"],
    "test_fcm.py": ["fcm"],
    "test_fcm_edges.py": ["fcm"],
    "test_health.py": ["health"],
    "test_huey_enqueueing.py": ["huey"],
    "test_huey_scheduler.py": ["huey"],
    "test_metrics.py": ["metrics"],
    "test_metrics_multiprocess.py": ["metrics"],
    "docs/test_guide_metrics.py": ["metrics"],
    "test_scheduler_options.py": ["celery", "tasks"],
    "test_tasks_backend.py": ["tasks"],
    "example/test_example_project.py": ["example"],
    "system/test_broker_failure.py": ["celery"],
    "system/test_hostile_api.py": ["example"],
    "system/test_worker_crash.py": ["celery"],
    "system/test_dispatch_broker_down.py": ["celery"],
}


def _found(module: str) -> bool:
    try:  # imports a dotted name's parents, not the module itself
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent is missing
        return False


def _absent(module_path: Path) -> list[str]:
    """What the test module at ``module_path`` needs and is not installed."""
    needs = NEEDS.get(module_path.relative_to(TESTS).as_posix(), [])
    return [
        OPTIONAL[name][0] for name in needs if not any(map(_found, OPTIONAL[name][1]))
    ]


class NeedsAbsent(pytest.Module):
    """A test module whose optional part is absent: skipped, never imported."""

    def collect(self):
        # A collector's skip is reported at this line: name the module.
        module = self.path.relative_to(TESTS.parent).as_posix()
        pytest.skip(f"{module} needs {' and '.join(_absent(self.path))}")


def pytest_pycollect_makemodule(module_path, parent):
    """Skip a module whose extra is absent, saying which, rather than fail to
    import it: tox's ``noextras`` runs the suite so. In CI (REQUIRE_SERVICES=1)
    everything is installed, and a missing extra fails the import instead."""
    if services.required() or not _absent(module_path):
        return None
    return NeedsAbsent.from_parent(parent, path=module_path)


def pytest_collection_modifyitems(config, items):
    """Skip tests whose database or service is absent, saying which and why."""
    vendor = services.database()
    for item in items:
        for marker in ("postgresql", "mysql"):
            if item.get_closest_marker(marker) and vendor != marker:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"needs {marker}: run with TEST_DATABASE={marker} "
                        f"(python3 dev.py test --database {marker})"
                    )
                )
        if item.get_closest_marker("not_sqlite") and vendor == "sqlite":
            item.add_marker(
                pytest.mark.skip(reason="needs PostgreSQL or MySQL row locks")
            )
        for name in ("redis", "rabbitmq"):
            # In CI (REQUIRE_SERVICES=1) the test runs and fails if it is down.
            if (
                item.get_closest_marker(name)
                and not services.required()
                and not services.reachable(name)
            ):
                host, port = services.SERVICES[name]
                reason = f"needs {name} on {host}:{port}, which is not reachable"
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _empty_outbox():
    """Each test starts with an empty locmem outbox, a module global that would
    otherwise carry one test's notifications into the next (Django's test
    runner empties ``mail.outbox`` the same way)."""
    locmem.outbox.clear()


@pytest.fixture(autouse=True)
def _forget_sweeper_beats():
    """Each test starts with the heartbeat's per-process throttle empty, so the
    first sweep of a test writes its heartbeat whatever ran before it."""
    forget_beats()
    yield
    forget_beats()


@pytest.fixture
def fake():
    """A fake FCM v1 server on 127.0.0.1, for the real firebase-admin SDK."""
    with FakeFCM() as server:
        yield server


@pytest.fixture
def children(tmp_path):
    """Start child processes; every one is stopped and reaped when the test ends,
    pass or fail, and what it wrote is shown if the test failed."""
    started = Children(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def driver(db):
    return Driver.objects.create(name="Ravi")


@pytest.fixture
def other_driver(db):
    return Driver.objects.create(name="Sunil")


@pytest.fixture
def stock_request(db):
    return StockRequest.objects.create()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create(username="agent")


@pytest.fixture
def ticket(db):
    return Ticket.objects.create()

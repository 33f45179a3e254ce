"""Shared fixtures: drivers, users, and moving stored deadlines.

freezegun does not move the database clock, so tests move the stored
deadlines instead, with :func:`django_assignment_timeout.testing.make_due`.
"""

from __future__ import annotations

import pytest

from tests import services
from tests.support.children import Children
from tests.testapp.models import Driver, StockRequest, Ticket


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

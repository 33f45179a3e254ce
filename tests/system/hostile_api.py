"""Scenario 6, run inside the GTS example project (its settings, its apps).

    cd example_project && DJANGO_SETTINGS_MODULE=tests.settings \\
        python ../tests/system/hostile_api.py

``tests/system/test_hostile_api.py`` runs this as a subprocess, the way the
root suite runs the example's own tests (one settings module per process).
It creates a throw-away test database and then:

1. **Authorization matrix.** Anonymous, driver A, driver B, EIC and admin
   call every API endpoint with every verb. Only the allowed cells may
   succeed (2xx); a driver never sees or acts on another driver's offer and
   an EIC never on another DBS's request.
2. **schemathesis** against the OpenAPI schema the project serves
   (``/api/schema/``), once per identity (and anonymously), through the WSGI
   application: no response may be a 5xx or violate the schema.

Prints one JSON line of figures; exits non-zero on any finding.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from typing import Any

MAX_EXAMPLES = int(os.environ.get("HOSTILE_MAX_EXAMPLES", "40"))
VERBS = ("get", "head", "post", "put", "patch", "delete")


def _world() -> dict[str, Any]:
    """Two DBSs, an EIC, two drivers, an admin, and offers to each driver."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from logistics.models import DBS, EIC, Driver, StockRequest

    users = get_user_model()
    home = DBS.objects.create(code="KONDLI", name="DBS Kondli")
    away = DBS.objects.create(code="OKHLA", name="DBS Okhla")
    eic = EIC.objects.create(
        user=users.objects.create_user("eic", password="pw"), dbs=home
    )
    driver_a = Driver.objects.create(
        user=users.objects.create_user("ravi", password="pw"), name="Ravi"
    )
    driver_b = Driver.objects.create(
        user=users.objects.create_user("sunil", password="pw"), name="Sunil"
    )
    admin = users.objects.create_superuser("admin", password="pw")
    tokens = {
        name: Token.objects.create(user=user).key
        for name, user in (
            ("driver_a", driver_a.user),
            ("driver_b", driver_b.user),
            ("eic", eic.user),
            ("admin", admin),
        )
    }
    return {
        "home": home,
        "away": away,
        "driver_a": driver_a,
        "driver_b": driver_b,
        "tokens": tokens,
        "StockRequest": StockRequest,
    }


def _offer(world: dict[str, Any], driver: Any, dbs: Any = None) -> Any:
    request = world["StockRequest"].objects.create(
        dbs=dbs or world["home"], quantity_kg=1000
    )
    world["StockRequest"].objects.offer(request.pk, driver, assignment_mode="MANUAL")
    return request


def _client(world: dict[str, Any], identity: str) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    if identity != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Token {world['tokens'][identity]}")
    return client


def authorization_matrix(world: dict[str, Any]) -> tuple[int, list[str]]:
    """Every identity x endpoint x verb; returns (cells, findings)."""
    allowed = {
        ("driver_a", "pending", "get"),
        ("driver_a", "pending", "head"),
        ("driver_b", "pending", "get"),
        ("driver_b", "pending", "head"),
        ("driver_a", "accept", "post"),
        ("driver_b", "accept", "post"),
        ("driver_a", "reject", "post"),
        ("driver_b", "reject", "post"),
        ("eic", "list", "get"),
        ("eic", "list", "head"),
        ("eic", "status", "patch"),
    }
    driver_of = {"driver_a": world["driver_a"], "driver_b": world["driver_b"]}
    findings: list[str] = []
    cells = 0
    for identity in ("anonymous", "driver_a", "driver_b", "eic", "admin"):
        for endpoint in ("pending", "accept", "reject", "list", "status"):
            for verb in VERBS:
                cells += 1
                # A fresh target per cell, owned by the caller when it is a driver.
                own = _offer(world, driver_of.get(identity, world["driver_a"]))
                pending = world["StockRequest"].objects.create(
                    dbs=world["home"], quantity_kg=10
                )
                url, body = {
                    "pending": ("/api/driver/pending-offers", None),
                    "accept": (
                        "/api/driver-trips/accept/",
                        {"stock_request_id": own.pk},
                    ),
                    "reject": (
                        "/api/driver-trips/reject/",
                        {"stock_request_id": own.pk, "reason": "busy"},
                    ),
                    "list": ("/api/eic/stock-requests/", None),
                    "status": (
                        f"/api/eic/stock-requests/{pending.pk}/status/",
                        {
                            "status": "ASSIGNING",
                            "target_driver": world["driver_a"].pk,
                            "assignment_mode": "MANUAL",
                        },
                    ),
                }[endpoint]
                response = getattr(_client(world, identity), verb)(
                    url, body, format="json"
                )
                ok = 200 <= response.status_code < 300
                expected_ok = (identity, endpoint, verb) in allowed
                if ok != expected_ok or response.status_code >= 500:
                    findings.append(
                        f"{identity} {verb.upper()} {endpoint}: {response.status_code}"
                        f" (expected {'2xx' if expected_ok else 'a refusal'})"
                    )
                if identity == "anonymous" and response.status_code != 401:
                    findings.append(
                        f"anonymous {verb.upper()} {endpoint}: {response.status_code}"
                    )
    findings += _cross_checks(world)
    return cells, findings


def _cross_checks(world: dict[str, Any]) -> list[str]:
    """No driver sees or acts on another driver's offer; no EIC on another DBS."""
    findings = []
    theirs = _offer(world, world["driver_b"])
    driver_a = _client(world, "driver_a")
    listed = {row["id"] for row in driver_a.get("/api/driver/pending-offers").json()}
    if theirs.pk in listed:
        findings.append("driver A sees driver B's offer")
    for verb, url, body in (
        ("post", "/api/driver-trips/accept/", {"stock_request_id": theirs.pk}),
        (
            "post",
            "/api/driver-trips/reject/",
            {"stock_request_id": theirs.pk, "reason": "x"},
        ),
    ):
        response = getattr(driver_a, verb)(url, body, format="json")
        if response.status_code < 400 or response.status_code >= 500:
            findings.append(f"driver A {url} on B's offer: {response.status_code}")
    theirs.refresh_from_db()
    if theirs.status != "ASSIGNING" or theirs.target_driver_id != world["driver_b"].pk:
        findings.append(f"driver B's offer changed by driver A: {theirs.status}")
    away = world["StockRequest"].objects.create(dbs=world["away"], quantity_kg=5)
    eic = _client(world, "eic")
    response = eic.patch(
        f"/api/eic/stock-requests/{away.pk}/status/",
        {
            "status": "ASSIGNING",
            "target_driver": world["driver_a"].pk,
            "assignment_mode": "MANUAL",
        },
        format="json",
    )
    if response.status_code < 400 or response.status_code >= 500:
        findings.append(f"EIC assigned another DBS's request: {response.status_code}")
    if away.pk in {row["id"] for row in eic.get("/api/eic/stock-requests/").json()}:
        findings.append("EIC sees another DBS's request")
    return findings


def fuzz(world: dict[str, Any]) -> tuple[int, int, list[str]]:
    """schemathesis on every operation of the served schema, per identity."""
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from backend.wsgi import application

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    calls = 0
    findings: list[str] = []
    for identity in ("anonymous", "driver_a", "driver_b", "eic", "admin"):
        headers = (
            {}
            if identity == "anonymous"
            else {"Authorization": f"Token {world['tokens'][identity]}"}
        )
        for operation in operations:
            # Live offers to aim at, so valid-looking ids reach the lifecycle.
            _offer(world, world["driver_a"])
            _offer(world, world["driver_b"])
            failures: list[str] = []

            run = _fuzz_test(operation, headers, checks, failures)
            run()
            calls += len(failures) + run.passed  # type: ignore[attr-defined]
            findings += [
                f"{identity} {operation.method.upper()} {operation.path}: {failure}"
                for failure in dict.fromkeys(failures)
            ]
    return len(operations), calls, findings


def _fuzz_test(
    operation: Any, headers: dict[str, str], checks: list[Any], failures: list[str]
) -> Any:
    """A hypothesis test calling ``operation`` with generated cases as one identity."""
    from hypothesis import HealthCheck, given, settings

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=checks)
        except (KeyboardInterrupt, SystemExit):
            raise
        except (
            BaseException
        ) as err:  # schemathesis' FailureGroup is a BaseExceptionGroup
            failures.append(f"{type(err).__name__}: {str(err)[:300]}")
        else:
            run.passed += 1  # type: ignore[attr-defined]

    run.passed = 0  # type: ignore[attr-defined]
    return run


def main() -> int:
    import django
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    # Refusals (4xx) are the expected answers here; server errors stay loud.
    logging.disable(logging.WARNING)
    # As in production (and Django's test runner): DEBUG off, so errors get
    # the project's handlers, not the technical pages.
    setup_test_environment(debug=False)
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        world = _world()
        cells, matrix_findings = authorization_matrix(world)
        operations, calls, fuzz_findings = fuzz(world)
    except Exception:
        traceback.print_exc()
        return 2
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    print(
        json.dumps(
            {
                "matrix_cells": cells,
                "matrix_findings": matrix_findings,
                "operations": operations,
                "fuzz_calls": calls,
                "fuzz_findings": fuzz_findings[:50],
                "fuzz_finding_count": len(fuzz_findings),
            }
        )
    )
    return 1 if matrix_findings or fuzz_findings else 0


if __name__ == "__main__":
    sys.exit(main())

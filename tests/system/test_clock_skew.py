"""Fault: the accepting process's clock is 30 s ahead, or 30 s behind.

The accept runs in a child process whose clock libfaketime moves
(``LD_PRELOAD`` with ``FAKETIME="+30s"`` or ``"-30s"``), over the real
PostgreSQL. The child moves the offer's deadline 2 s into the future or the
past (on the database clock) and accepts at once. The decision is the
database's (``expires_at > now()`` in the accept's UPDATE), so each verdict
must be exactly right whatever the child's clock says: the in-time accept
taken, the late one refused with ``OfferExpired``.

Control: the child also reports what its own clock would have decided, and
the skew it sees against the database; with +30 s it would have refused the
in-time accept, with -30 s taken the late one.
"""

from __future__ import annotations

import glob
import json

import pytest

from tests.support.children import child_env, json_line, run_python
from tests.system.conftest import need
from tests.system.invariants import violations
from tests.testapp.models import Driver, StockRequest

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

MARGIN = 2.0  # seconds between the deadline and the accept, either way


def libfaketime() -> str | None:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


@pytest.mark.parametrize("skew", [30, -30], ids=["ahead", "behind"])
@pytest.mark.parametrize(
    ("seconds_left", "verdict"),
    [(MARGIN, "accepted"), (-MARGIN, "OfferExpired")],
    ids=["in-time", "late"],
)
def test_accept_with_a_skewed_clock(skew, seconds_left, verdict):
    library = libfaketime()
    need(
        None if library else "needs libfaketime (Debian packages faketime, libfaketime)"
    )
    driver = Driver.objects.create(name="Ravi")
    row = StockRequest.objects.create()
    StockRequest.objects.offer(row.pk, driver)
    env = child_env()
    env.update(
        LD_PRELOAD=str(library),
        FAKETIME=f"{skew:+d}s",
        # Timeouts and sleeps keep real time: only the wall clock is wrong.
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    result = json_line(
        run_python(
            "-m",
            "tests.support.fault_client",
            "accept",
            str(row.pk),
            str(driver.pk),
            str(seconds_left),
            env=env,
            timeout=120,
        )
    )
    print(json.dumps(result))
    # The fault is real: the child's clock is off by the skew (within the
    # time its two reads took).
    assert abs(result["skew"] - skew) < MARGIN, result
    assert result["verdict"] == verdict, result
    # Control: deciding on the child's own clock gets exactly one case wrong
    # per skew (ahead: refuses in time; behind: takes late).
    wrong_locally = result["local_says_in_time"] != (verdict == "accepted")
    assert wrong_locally == ((skew > 0) == (seconds_left > 0)), result
    row.refresh_from_db()
    assert row.status == ("ASSIGNED" if verdict == "accepted" else "PENDING")
    assert violations(StockRequest) == []

"""Fault: PostgreSQL restarted (fast shutdown) under load.

A private cluster (never the machine's shared server) holds the test's
database. Two sweepers (``expire_assignments --loop``, which also run the
notification relay, recording every send in a file) and a web-like client
(``tests.support.fault_client web``: one request per operation, offering and
accepting) work on it while the test stops it with ``pg_ctl -m fast`` (open
transactions rolled back, every client disconnected), keeps it down, and
starts it again, twice.

Then, without restarting any process: the client's requests succeed again,
the sweepers expire every offer and deliver every event, every operation the
client was told succeeded is in the database, and the invariants hold.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.children import child_env, json_line, run_python
from tests.support.polling import wait_for

pytestmark = [pytest.mark.postgresql, pytest.mark.slow, pytest.mark.timeout(300)]

OFFERS = 200
RESTARTS = 2
OUTAGE = 3.0  # seconds the server stays down each time
SWEEPERS = 2


def audit(database, acks, sends_log) -> dict:
    return json_line(
        run_python(
            "-m",
            "tests.support.fault_client",
            "audit",
            str(acks),
            str(sends_log),
            env=child_env(database=database),
            timeout=120,
        )
    )


def test_database_restarted_under_load(private_postgresql, children, tmp_path):
    cluster = private_postgresql
    database = cluster.database()
    sends_log, acks, stop = (tmp_path / name for name in ("sends", "acks", "stop"))
    # Every process records its sends (an offer's may go out from the one
    # that made it, after its commit), so none goes uncounted.
    settings = {
        "ASSIGNMENT_TIMEOUT_NOTIFIERS": {
            "default": {
                "BACKEND": "tests.system.notifiers.FileNotifier",
                "OPTIONS": {"path": str(sends_log)},
            }
        },
        # A claim made just before a restart frees soon after it.
        "ASSIGNMENT_TIMEOUT_DELIVERY_LEASE": 3.0,
    }
    seeded = json_line(
        run_python(
            "-m",
            "tests.support.fault_client",
            "seed",
            str(OFFERS),
            "4",
            env=child_env(database=database, settings=settings),
            timeout=120,
        )
    )
    assert len(seeded["pks"]) == OFFERS
    sweepers = [
        children.django(
            f"sweeper-{n}",
            "expire_assignments",
            "--loop",
            "--interval=0.5",
            database=database,
            app_name=f"sweeper-{n}",
            settings=settings,
        )
        for n in range(SWEEPERS)
    ]
    web = children.python(
        "web",
        "-m",
        "tests.support.fault_client",
        "web",
        str(stop),
        str(acks),
        database=database,
        app_name="web",
        settings=settings,
    )
    for sweeper in sweepers:
        wait_for(lambda s=sweeper: "sweeping every" in s.stdout(), 60, "a sweeper")

    def acked() -> int:
        return len(acks.read_text().splitlines()) if acks.exists() else 0

    outages = []
    for _ in range(RESTARTS):
        before = acked()
        wait_for(lambda b=before: acked() >= b + 20, 60, "the client at work")
        down = time.monotonic()
        cluster.stop("fast")
        time.sleep(OUTAGE)
        cluster.start()
        outages.append(round(time.monotonic() - down, 1))
    after_restarts = acked()
    # The same client process serves requests again.
    wait_for(lambda: acked() >= after_restarts + 20, 60, "the client to recover")
    stop.touch()
    wait_for(lambda: not web.alive(), 60, "the client to finish")
    served = json.loads(web.stdout().strip().splitlines()[-1])

    # The same sweepers expire what came due and deliver every event.
    def settled() -> dict | None:
        found = audit(database, acks, sends_log)
        done = "ASSIGNING" not in found["status"] and found["undelivered"] == 0
        return found if done else None

    found = wait_for(settled, 120, "every offer expired and delivered", interval=1)
    figures = {
        "offers": found["events"]["offered"],
        "restarts": RESTARTS,
        "outage_s": outages,
        "failed_requests": sum(served["errors"].values()),
        "events": found["events"],
        "lost_acks": len(found["lost_acks"]),
        # Every expiry notifies its assignee; an offer's push goes out only
        # while the offer is open, and an accept notifies nobody, so only the
        # expired events must each have been sent.
        "lost": found["never_sent"].get("expired", 0),
        "duplicated": found["duplicated"],
        "violations": len(found["violations"]),
    }
    print(json.dumps(figures))
    # Control: the restarts were felt, by the client and by the sweepers.
    assert served["errors"], served
    assert all("Sweep failed" in s.stderr() for s in sweepers)
    assert all(s.alive() for s in sweepers), "a sweeper died of the restart"
    assert found["violations"] == []
    assert found["lost_acks"] == []
    assert found["events"]["expired"] >= OFFERS
    assert found["dead"] == 0
    assert figures["lost"] == 0

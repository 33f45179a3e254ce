"""Fault: a network partition between a sweeper and PostgreSQL, mid-batch.

The sweeper (``expire_assignments --loop``) runs inside a network namespace
and reaches a private cluster only over a veth pair. As in the connection
loss scenario, another transaction holds an uncommitted ``expired`` event so
the sweeper's one-statement batch waits with every due row locked and reset;
the test sees that in ``pg_locks`` and then drops every packet on the veth
pair (``tc``). Nothing is refused or reset: both sides just stop hearing
each other, the hardest way for a connection to fail.

The server notices the silent client through TCP keepalives and its
connection check and rolls the batch back (every row offered again, no
expiry recorded, no lock left); the sweeper notices through its own
keepalives and keeps failing while cut off. When the partition heals, the
same process expires every offer, once each.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from django_assignment_timeout.models import AssignmentEvent
from tests.support.children import child_env, json_line, run_python
from tests.support.polling import wait_for
from tests.system.conftest import backend_gone, sweeper_waiting
from tests.testapp.models import StockRequest

pytestmark = [pytest.mark.postgresql, pytest.mark.slow, pytest.mark.timeout(300)]

OFFERS = 300
APP_NAME = "partitioned-sweeper"
#: The sweeper's libpq keepalives: a silent server is given up on in ~3 s.
CLIENT_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 1,
    "keepalives_interval": 1,
    "keepalives_count": 2,
    "tcp_user_timeout": 3000,
}
EVENTS = AssignmentEvent._meta.db_table
ROWS = StockRequest._meta.db_table


def count(controller, sql: str) -> int:
    return int(controller.execute(sql).fetchone()[0])


def test_sweeper_partitioned_mid_batch(partitionable_postgresql, namespace, children):
    cluster = partitionable_postgresql
    here = cluster.database()
    seeded = json_line(
        run_python(
            "-m",
            "tests.support.fault_client",
            "seed",
            str(OFFERS),
            "300",
            env=child_env(database=here),
            timeout=120,
        )
    )
    pks = seeded["pks"]
    env = child_env(
        database=cluster.database(namespace.host_address, **CLIENT_KEEPALIVES),
        app_name=APP_NAME,
    )
    sweeper = children.start(
        "sweeper",
        namespace.command(
            sys.executable,
            "-m",
            "django",
            "expire_assignments",
            "--loop",
            "--interval=1",
            "--batch-size=1000",
        ),
        env,
    )
    wait_for(lambda: "sweeping every" in sweeper.stdout(), 60, "the loop")

    blocker = cluster.connect(autocommit=False)
    controller = cluster.connect()
    try:
        # An uncommitted event for the last row due: the sweep's INSERT of the
        # same (assignment, attempt, kind) waits for this transaction.
        blocker.execute(
            f"INSERT INTO {EVENTS} (content_type_id, object_pk, attempt, kind) "
            "SELECT id, %s, 1, 'expired' FROM django_content_type "
            "WHERE app_label = 'testapp' AND model = 'stockrequest'",
            [str(pks[-1])],
        )
        due = json_line(
            run_python(
                "-m",
                "tests.support.fault_client",
                "due",
                env=child_env(database=here),
                timeout=60,
            )
        )
        assert due == {"due": OFFERS}
        pid = wait_for(
            lambda: sweeper_waiting(controller, APP_NAME, StockRequest),
            timeout=30,
            what="the sweeper mid-batch",
        )
        cut_at = time.monotonic()
        failures_before = sweeper.stderr().count("Sweep failed")
        drop = namespace.cut()
        wait_for(
            lambda: backend_gone(controller, pid),
            timeout=60,
            what="the server to give up on the silent sweeper",
        )
        server_gave_up = round(time.monotonic() - cut_at, 1)
        # Rolled back whole: every row is still offered, no expiry recorded,
        # and no row lock survived the abandoned transaction.
        with controller.transaction():
            locked = controller.execute(
                f"SELECT id FROM {ROWS} WHERE status = 'ASSIGNING' FOR UPDATE NOWAIT"
            ).fetchall()
        assert len(locked) == OFFERS
        blocker.rollback()
        # Still cut off: the sweeper fails (and retries) without sweeping.
        wait_for(
            lambda: sweeper.stderr().count("Sweep failed") > failures_before,
            timeout=60,
            what="the sweeper to notice",
        )
        time.sleep(2)
        assert (
            count(controller, f"SELECT count(*) FROM {EVENTS} WHERE kind = 'expired'")
            == 0
        )
        partitioned = round(time.monotonic() - cut_at, 1)
        namespace.heal()

        # The same process completes the work once it can reach the server.
        wait_for(
            lambda: (
                count(
                    controller,
                    f"SELECT count(*) FROM {ROWS} WHERE status = 'ASSIGNING'",
                )
                == 0
            ),
            timeout=60,
            what="the sweep after the partition healed",
        )
    finally:
        blocker.close()
        controller.close()
    wait_for(lambda: f"expired {OFFERS} in" in sweeper.stdout(), 10, "the report")
    assert sweeper.alive()
    found = json_line(
        run_python(
            "-m",
            "tests.support.fault_client",
            "audit",
            "-",
            "-",
            env=child_env(database=here),
            timeout=120,
        )
    )
    print(
        json.dumps(
            {
                "offers": OFFERS,
                "partitions": 1,
                "drop": drop,
                "server_gave_up_s": server_gave_up,
                "partitioned_s": partitioned,
                "expired": found["events"].get("expired", 0),
                "violations": len(found["violations"]),
            }
        )
    )
    assert found["violations"] == []
    assert found["events"]["expired"] == OFFERS

"""Wake-ups on PostgreSQL: NOTIFY after commit, a lost listener, two loops at once.

The loops are real ``expire_assignments --loop`` processes on the test
database; the test plays the web process that offers, and a controller
connection (apart from Django's) that looks at and terminates backends.
"""

from __future__ import annotations

import select
import time

import pytest
from django.db import connection, transaction

from django_assignment_timeout.models import AssignmentEvent, DeliveryState
from django_assignment_timeout.wakeup import WakeListener, wake_sweepers
from tests.support.polling import wait_for
from tests.system.conftest import pg_connect
from tests.testapp.models import Driver, StockRequest

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

APP_NAME = "wakeup-loop"
#: No probing to speak of: only a wake-up explains a prompt answer.
SETTINGS = {"ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL": 30}
BOUND = 5.0


@pytest.fixture
def listener():
    heard = WakeListener("default")
    assert heard.ensure()
    yield heard
    heard.close()


def test_a_wake_reaches_listeners_only_once_the_transaction_commits(listener, driver):
    with transaction.atomic():
        StockRequest.objects.create().offer(driver)
        wake_sweepers()
        # Nothing can arrive before the commit; a short look shows none did.
        assert select.select([listener], [], [], 0.3)[0] == []
        assert not listener.drain()
    wait_for(listener.drain, BOUND, "the wake-up after the commit")


def test_a_rolled_back_wake_is_never_heard(listener):
    with transaction.atomic():
        wake_sweepers()
        transaction.set_rollback(True)
    wake_sweepers()  # a later one arrives: the first, had it been sent, before it
    wait_for(listener.drain, BOUND, "the second wake-up")
    assert not listener.drain()


def test_the_command_scheduler_wakes_after_an_offer_commits(listener, driver):
    StockRequest.objects.create().offer(driver)
    wait_for(listener.drain, BOUND, "the offer's wake-up")


def maintenance_connect():
    """A connection to the server's ``postgres`` database: a database can not
    refuse connections from a session that is connected to it."""
    import psycopg

    params = connection.settings_dict
    return psycopg.connect(
        host=params["HOST"],
        port=params["PORT"],
        user=params["USER"],
        dbname="postgres",
        autocommit=True,
    )


def test_a_lost_listener_falls_back_to_probing_and_reconnects(children):
    controller = pg_connect()
    admin = maintenance_connect()
    database = connection.settings_dict["NAME"]
    driver = Driver.objects.create(name="Ravi")
    # CONN_MAX_AGE None: the loop keeps its Django connection while new ones
    # are refused, so only its listener is cut off.
    loop = children.django(
        "loop",
        "expire_assignments",
        "--loop",
        "--interval",
        "30",
        app_name=APP_NAME,
        log_level="WARNING",
        database={"CONN_MAX_AGE": None},
        settings={"ASSIGNMENT_TIMEOUT_WAKE_PROBE_INTERVAL": 0.25},
    )
    first = wait_for(lambda: listener_pid(controller), 60, "the loop's listener")
    # Its Django connection too, or new connections are refused before the
    # loop's first sweep opens it (seen in CI under load): then nothing sweeps.
    wait_for(lambda: loop_connection_pid(controller), 60, "the loop's connection")
    try:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        controller.execute("SELECT pg_terminate_backend(%s)", [first])
        wait_for(
            lambda: "probing until it reconnects" in loop.stderr(),
            BOUND,
            "the loop to see its listener gone",
        )
        # Unable to listen, the loop probes: a new offer is still seen.
        event = StockRequest.objects.create().offer(driver, timeout=1)
        wait_for(lambda: delivered(event), BOUND, "the push while probing")
    finally:
        admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        admin.close()
    try:
        second = wait_for(
            lambda: listener_pid(controller), 60, "the listener to return"
        )
        assert second != first
        assert loop.alive(), loop.report()
    finally:
        controller.close()


def test_a_reconnected_listener_is_woken_again(children):
    controller = pg_connect()
    driver = Driver.objects.create(name="Ravi")
    loop = children.django(
        "loop",
        "expire_assignments",
        "--loop",
        "--interval",
        "30",
        app_name=APP_NAME,
        log_level="WARNING",
        settings=SETTINGS,
    )
    first = wait_for(lambda: listener_pid(controller), 60, "the loop's listener")
    controller.execute("SELECT pg_terminate_backend(%s)", [first])
    second = wait_for(
        lambda: (pid := listener_pid(controller)) != first and pid,
        60,
        "the listener to reconnect",
    )
    assert second
    # Probing every 30 s and sweeping every 30 s: only NOTIFY is this quick.
    offered_at = time.monotonic()
    event = StockRequest.objects.create().offer(driver, timeout=1)
    wait_for(lambda: delivered(event), BOUND, "the push after the reconnect")
    wait_for(
        lambda: AssignmentEvent.objects.filter(kind="expired").exists(),
        BOUND + 1,
        "the expiry after the reconnect",
    )
    assert time.monotonic() - offered_at < BOUND + 1
    assert "lost" in loop.stderr()
    assert loop.alive(), loop.report()
    controller.close()


OFFERS = 40


def test_two_woken_loops_do_not_double_work(children):
    loops = [
        children.django(
            f"loop-{n}",
            "expire_assignments",
            "--loop",
            "--interval",
            "30",
            app_name=f"{APP_NAME}-{n}",
            settings=SETTINGS,
        )
        for n in range(2)
    ]
    controller = pg_connect()
    for n in range(2):
        wait_for(
            lambda n=n: listener_pid(controller, f"{APP_NAME}-{n}"), 60, f"loop {n}"
        )
    driver = Driver.objects.create(name="Ravi")
    requests = [StockRequest.objects.create() for _ in range(OFFERS)]
    for request in requests:
        request.offer(driver, timeout=1)  # every offer wakes both loops
    expired = AssignmentEvent.objects.filter(kind="expired")
    wait_for(lambda: expired.count() == OFFERS, 30, "every offer to expire")
    wait_for(
        lambda: (
            not AssignmentEvent.objects.exclude(
                delivery_state=DeliveryState.DELIVERED
            ).exists()
        ),
        30,
        "every event to be delivered",
    )
    # Each offer expired once, each event was claimed once: no double work.
    keys = list(expired.values_list("object_pk", "attempt"))
    assert len(set(keys)) == OFFERS
    attempts = set(AssignmentEvent.objects.values_list("delivery_attempts", flat=True))
    assert attempts == {1}

    def swept():
        return sum(
            int(line.split()[1])
            for each in loops
            for line in each.stdout().splitlines()
            if line.startswith("expired ")
        )

    # Each loop reports after its sweep committed: the lines may trail the rows.
    wait_for(lambda: swept() >= OFFERS, 30, "the loops' reports")
    assert swept() == OFFERS
    assert all(each.alive() for each in loops)
    controller.close()


def listener_pid(controller, app_name=APP_NAME):
    """The backend of the loop's LISTEN connection, if it has one."""
    row = controller.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        " AND query LIKE 'LISTEN%%' AND datname = current_database()",
        [app_name],
    ).fetchone()
    return row and row[0]


def loop_connection_pid(controller, app_name=APP_NAME):
    """The backend of the loop's Django connection (not its listener), if open."""
    row = controller.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        " AND query NOT LIKE 'LISTEN%%' AND datname = current_database()",
        [app_name],
    ).fetchone()
    return row and row[0]


def delivered(event):
    event.refresh_from_db()
    return event.delivery_state == DeliveryState.DELIVERED

"""Delivery throughput: the relay's FCM backend against one send per notification.

    python bench/delivery.py [--count 10000] [--sequential-sample 2000] [--latency-ms 20]

Both sides use the real firebase-admin SDK against the local fake FCM server
(``tests/support/fcm_fake.py``), run as a separate process so it does not share this
process's GIL. The relay side sweeps ``--count`` expired offers into events
and times ``deliver_pending()`` (claim, bulk load, ``send_each`` in chunks,
record). The baseline is the GTS guide's shape without the broker: one
``messaging.send`` per notification, in a loop; it is timed on the first
``--sequential-sample`` messages (the rate is flat) unless the sample is 0,
which times all of them. The last line is ``delivery_vs_sequential=<ratio of
messages per second>``.

``--latency-ms`` makes the fake answer each send after that many milliseconds,
standing in for the network round trip to FCM that loopback does not have
(default 20 ms; a round trip from a cloud region to FCM is typically 20-100
ms). That round trip is what batching and concurrent sends save; with
``--latency-ms 0`` both sides are bound by the SDK's CPU cost per message on
this machine's cores, which shows the floor of the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("NO_PROXY", "127.0.0.1")


def start_fake(latency_ms: float) -> tuple[subprocess.Popen[str], str, str]:
    """The fake FCM server in its own process; returns (process, base URL, credentials)."""
    credentials = os.path.join(tempfile.mkdtemp(), "sa.json")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fcm_fake",
            "--credentials",
            credentials,
            "--delay",
            str(latency_ms / 1000),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process, line.split()[-1], credentials


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--sequential-sample", type=int, default=2_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()

    import django
    from django.conf import settings

    fake, base_url, credentials = start_fake(args.latency_ms)
    options = {
        "credentials": credentials,
        "fcm_url": base_url + "/v1/projects/{0}/messages:send",
        "token_resolver": "tests.support.fcm_fake.driver_tokens",
        "http_timeout": 10,
    }
    settings.ASSIGNMENT_TIMEOUT_NOTIFIERS = {
        "push": {
            "BACKEND": "django_assignment_timeout.notifiers.fcm.FCMNotifier",
            "OPTIONS": options,
        }
    }
    settings.ASSIGNMENT_TIMEOUT_DELIVERY_BATCH_SIZE = int(
        os.environ.get("BENCH_BATCH", "500")
    )
    settings.DATABASES["default"]["NAME"] = os.path.join(
        tempfile.mkdtemp(), "bench.sqlite3"
    )
    django.setup()
    try:
        run(args, fake_url=base_url)
    finally:
        fake.terminate()
        fake.wait(10)


def run(args: argparse.Namespace, fake_url: str) -> None:
    from django.core.management import call_command
    from firebase_admin import messaging
    from tests.testapp.data import due_offers

    from django_assignment_timeout.delivery import deliver_pending
    from django_assignment_timeout.models import AssignmentEvent
    from django_assignment_timeout.notifiers import get_notifiers
    from django_assignment_timeout.notifiers.base import Notification
    from django_assignment_timeout.sweep import sweep

    call_command("migrate", verbosity=0)
    due_offers(args.count)
    sweep()
    notifier = get_notifiers()["push"]
    app = notifier.app()  # type: ignore[attr-defined]
    # Warm up the token and connections outside the timings.
    warm = Notification(("warm",), "t", "b")
    notifier.send([warm])

    started = time.perf_counter()
    total = 0
    while True:
        result = deliver_pending()
        total += result.delivered
        if not result.has_more and not AssignmentEvent.objects.undelivered().exists():
            break
    relay_seconds = time.perf_counter() - started
    assert total == args.count, (total, args.count)

    sample = args.count if args.sequential_sample <= 0 else args.sequential_sample
    sample = min(sample, args.count)
    started = time.perf_counter()
    for i in range(sample):
        message = messaging.Message(
            data={"assignment_id": str(i), "event": "expired"},
            notification=messaging.Notification(title="Offer expired", body="b"),
            android=messaging.AndroidConfig(collapse_key=f"k{i}"),
            apns=messaging.APNSConfig(headers={"apns-collapse-id": f"k{i}"}),
        )
        message.token = f"driver-{i}"  # see notifiers/fcm.py on token=
        messaging.send(message, app=app)
    sequential_seconds = time.perf_counter() - started

    relay_rate = args.count / relay_seconds
    sequential_rate = sample / sequential_seconds
    print(f"fake FCM at {fake_url}, answering after {args.latency_ms:g} ms")
    print(
        f"relay: {args.count} notifications in {relay_seconds:.2f}s = {relay_rate:.0f}/s"
    )
    print(
        f"sequential messaging.send: {sample} in {sequential_seconds:.2f}s "
        f"= {sequential_rate:.0f}/s"
    )
    print(f"delivery_vs_sequential={relay_rate / sequential_rate:.2f}")


if __name__ == "__main__":
    main()

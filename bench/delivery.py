"""Delivery throughput: the relay's FCM backend against one send per notification.

    python bench/delivery.py [--count 10000] [--sequential-sample 500]
                             [--sdk-sample 2000] [--latencies 20,0]

Every side uses the real firebase-admin SDK against the local fake FCM
server (``tests/support/fcm_fake.py``), run as a separate process so it does
not share this process's GIL. For each modelled latency (the fake answers
each send after that many milliseconds, standing in for the round trip to
FCM that loopback does not have; from a cloud region it is typically 20-100
ms) the bench times:

* the relay: ``--count`` expired offers swept into events, then
  ``deliver_pending()`` (claim, bulk load, send, record) until none is left;
* the baseline, the GTS guide's shape without the broker: one
  ``messaging.send`` per notification in a loop, on the first
  ``--sequential-sample`` messages (its rate is flat);
* the ways the backend could send a chunk, bare, on ``--sdk-sample``
  messages in chunks of 500: the SDK's ``send_each`` (a thread per message)
  and the backend's two transports, ``"async"`` (``send_each_async`` on one
  event loop over HTTP/2, 100 in flight) and ``"threads"`` (``messaging.send``
  on 100 threads kept for the process). The relay uses its default transport.

The last line is ``delivery_vs_sequential=<relay / baseline at the first
latency> delivery_vs_bare_0ms=<relay / baseline at 0 ms>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("NO_PROXY", "127.0.0.1")


def start_fake() -> tuple[subprocess.Popen[str], str, str]:
    """The fake FCM server in its own process; returns (process, base URL, credentials)."""
    credentials = os.path.join(tempfile.mkdtemp(), "sa.json")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fcm_fake", "--credentials", credentials],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process, line.split()[-1], credentials


def control(base_url: str, path: str, body: dict[str, Any]) -> None:
    """POST to one of the fake's control endpoints (``/_delay``, ``/_reset``)."""
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--sequential-sample", type=int, default=500)
    parser.add_argument("--sdk-sample", type=int, default=2_000)
    parser.add_argument(
        "--latencies", default="20,0", help="milliseconds, comma separated"
    )
    args = parser.parse_args()
    latencies = [float(x) for x in args.latencies.split(",") if x.strip()]

    import django
    from django.conf import settings

    fake, base_url, credentials = start_fake()
    settings.ASSIGNMENT_TIMEOUT_NOTIFIERS = {
        "push": {
            "BACKEND": "django_assignment_timeout.notifiers.fcm.FCMNotifier",
            "OPTIONS": {
                "credentials": credentials,
                "fcm_url": base_url + "/v1/projects/{0}/messages:send",
                "token_resolver": "tests.support.fcm_fake.driver_tokens",
                "http_timeout": 10,
            },
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
        ratios = {ms: run(args, base_url, ms) for ms in latencies}
    finally:
        fake.terminate()
        fake.wait(10)
    first = ratios[latencies[0]]
    bare = ratios.get(0.0)
    print(
        f"delivery_vs_sequential={first:.2f} "
        f"delivery_vs_bare_0ms={'n/a' if bare is None else f'{bare:.2f}'}"
    )


def message(i: int) -> Any:
    """One expiry push as the baseline builds it."""
    from firebase_admin import messaging

    built = messaging.Message(
        data={"assignment_id": str(i), "event": "expired"},
        notification=messaging.Notification(title="Offer expired", body="b"),
        android=messaging.AndroidConfig(collapse_key=f"k{i}"),
        apns=messaging.APNSConfig(headers={"apns-collapse-id": f"k{i}"}),
    )
    built.token = f"driver-{i}"  # see notifiers/fcm/messages.py on token=
    return built


def run(args: argparse.Namespace, base_url: str, latency_ms: float) -> float:
    """Time every side at one latency; print them; return relay / baseline."""
    from django.core.management import call_command
    from firebase_admin import messaging
    from tests.testapp.data import due_offers

    from django_assignment_timeout.delivery import deliver_pending
    from django_assignment_timeout.models import AssignmentEvent
    from django_assignment_timeout.notifiers import get_notifiers
    from django_assignment_timeout.notifiers.base import Notification
    from django_assignment_timeout.notifiers.fcm.concurrent import (
        send_concurrently,
        send_pooled,
    )
    from django_assignment_timeout.sweep import sweep

    control(base_url, "/_reset", {})
    control(base_url, "/_delay", {"seconds": latency_ms / 1000})
    call_command("migrate", verbosity=0)
    due_offers(args.count)
    sweep()
    notifier = get_notifiers()["push"]
    app = notifier.app()  # type: ignore[attr-defined]
    # Warm up the token and connections outside the timings.
    notifier.send([Notification(("warm",), "t", "b")])
    messaging.send(message(0), app=app)

    started = time.perf_counter()
    total = 0
    while True:
        result = deliver_pending()
        total += result.delivered
        if not result.has_more and not AssignmentEvent.objects.undelivered().exists():
            break
    relay_rate = args.count / (time.perf_counter() - started)
    assert total == args.count, (total, args.count)

    sample = min(args.sequential_sample or args.count, args.count)
    started = time.perf_counter()
    for i in range(sample):
        messaging.send(message(i), app=app)
    sequential_rate = sample / (time.perf_counter() - started)

    batch = [message(i) for i in range(args.sdk_sample)]
    chunks = [batch[i : i + 500] for i in range(0, len(batch), 500)]
    started = time.perf_counter()
    for chunk in chunks:
        messaging.send_each(chunk, app=app)
    threads_rate = len(batch) / (time.perf_counter() - started)
    started = time.perf_counter()
    for chunk in chunks:
        send_concurrently(app, chunk, limit=100, timeout=60)
    async_rate = len(batch) / (time.perf_counter() - started)
    started = time.perf_counter()
    for chunk in chunks:
        send_pooled(app, chunk, limit=100, timeout=60)
    pooled_rate = len(batch) / (time.perf_counter() - started)

    print(f"fake FCM answering after {latency_ms:g} ms:")
    print(f"  relay: {args.count} notifications = {relay_rate:.0f}/s")
    print(f"  one messaging.send at a time: {sample} = {sequential_rate:.0f}/s")
    print(
        f"  bare send_each (a thread per message): {threads_rate:.0f}/s; "
        f"send_each_async (one loop, HTTP/2, 100 in flight): {async_rate:.0f}/s "
        f"= {async_rate / threads_rate:.2f}x; messaging.send on 100 kept threads: "
        f"{pooled_rate:.0f}/s = {pooled_rate / threads_rate:.2f}x"
    )
    print(f"  relay_vs_sequential_{latency_ms:g}ms={relay_rate / sequential_rate:.2f}")
    return relay_rate / sequential_rate


if __name__ == "__main__":
    main()

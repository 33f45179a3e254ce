"""The whole GTS stack as deployed, with real processes: nothing is mocked.

daphne serves the API, ``celery -A backend worker`` and ``celery -A backend
beat`` run against Redis (database 2), and the real firebase-admin SDK pushes
to the fake FCM server (``tests/support/fcm_fake.py`` of the repository). The EIC
assigns a driver through the API; the driver says nothing; the request goes
back to PENDING with its offer fields cleared, and the EIC's device receives
the guide's title and body exactly once. Also checks two of the guide's
commands against the running worker: ``inspect registered`` and
``check_expired_driver_assignments.delay().get()``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from django_assignment_timeout.models import AssignmentEvent
from logistics.models import DeviceToken, StockRequest
from tests.helpers import free_port, wait_for

pytestmark = [
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

HERE = Path(__file__).resolve().parent.parent
FCM_FAKE = HERE.parent / "tests" / "support" / "fcm_fake.py"
BROKER = "redis://127.0.0.1:6379/2"  # this project's share of the local Redis
TIMEOUT = 3  # seconds the driver has


def database_url() -> str:
    """The test database, as a DATABASE_URL the subprocesses can use."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    scheme = "postgres" if connection.vendor == "postgresql" else "mysql"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"{scheme}://{auth}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


class Stack:
    """Child processes with their output in files, stopped in reverse order."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env, self.procs = tmp, env, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=HERE, env=self.env, stdout=log, stderr=log
        )
        self.procs.append((name, proc, log))
        return proc

    def output(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def logs(self) -> str:
        """The end of each child's output, for a failure message."""
        return "\n".join(
            f"--- {n}\n{self.output(n)[-3000:]}" for n, _p, _l in self.procs
        )

    def run(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [sys.executable, *args],
            cwd=HERE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def stop(self) -> None:
        for _name, proc, _log in reversed(self.procs):
            proc.terminate()
        for _name, proc, log in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def get_json(url: str, token: str | None = None, method: str = "GET", body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def stack(tmp_path):
    # A queue of this run's own: parallel runs (tox p) share the broker's
    # database, and their workers must not take each other's tasks.
    queue = f"gts-e2e-{uuid.uuid4().hex}"
    web, fcm = free_port(), free_port()
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FCM_"))
        },
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "GTS_ENV_FILE": str(tmp_path / "no.env"),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": BROKER,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "DRIVER_ASSIGNMENT_TIMEOUT_SECONDS": str(TIMEOUT),
        "EXPIRY_SWEEP_SECONDS": "1",
        "FCM_CREDENTIALS": str(tmp_path / "service-account.json"),
        "FCM_URL": f"http://127.0.0.1:{fcm}/v1/projects/{{0}}/messages:send",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }
    stack = Stack(tmp_path, env)
    try:
        stack.start(
            "fcm",
            str(FCM_FAKE),
            "--port",
            str(fcm),
            "--credentials",
            env["FCM_CREDENTIALS"],
        )
        stack.start(
            "web",
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(web),
            "backend.asgi:application",
        )
        stack.start(
            "worker",
            "-m",
            "celery",
            "-A",
            "backend",
            "worker",
            "--loglevel=info",
            "--pool=solo",
        )
        stack.start(
            "beat", "-m", "celery", "-A", "backend", "beat", "--loglevel=info",
            "-s", str(tmp_path / "celerybeat-schedule"),
        )  # fmt: skip
        stack.web = f"http://127.0.0.1:{web}"
        stack.fcm = f"http://127.0.0.1:{fcm}"
        wait_for(
            lambda: "ready." in stack.output("worker"), 90, "the worker", stack.logs
        )
        wait_for(
            lambda: "listening" in stack.output("fcm"), 30, "the fake FCM", stack.logs
        )
        wait_for(
            lambda: "Listening on TCP" in stack.output("web"), 60, "daphne", stack.logs
        )
        yield stack
    finally:
        stack.stop()


def test_unanswered_offer_expires_and_the_eic_is_pushed_once(
    stack, eic, ravi, stock_request
):
    DeviceToken.objects.create(user=eic.user, token="eic-phone")
    DeviceToken.objects.create(user=ravi.user, token="ravi-phone")
    eic_token = Token.objects.create(user=eic.user).key

    offered = get_json(
        f"{stack.web}/api/eic/stock-requests/{stock_request.pk}/status/",
        eic_token,
        "PATCH",
        {"status": "ASSIGNING", "target_driver": ravi.pk, "assignment_mode": "MANUAL"},
    )
    assert offered["status"] == "ASSIGNING"

    def pushes():
        sent = get_json(f"{stack.fcm}/_requests")
        return [r["body"]["message"] for r in sent if r["status"] == 200]

    def expired_push():
        return [m for m in pushes() if m["token"] == "eic-phone"]

    wait_for(expired_push, 60, "the EIC's push", stack.logs)
    time.sleep(3)  # a few more beat sweeps and relay runs: still one push

    row = StockRequest.objects.get(pk=stock_request.pk)
    assert row.status == "PENDING"
    assert row.target_driver_id is None
    assert row.assignment_started_at is None
    assert row.assignment_mode is None
    assert row.assignment_expires_at is None
    kinds = list(
        AssignmentEvent.objects.for_assignment(row).values_list("kind", flat=True)
    )
    assert kinds == ["offered", "expired"]

    [push] = expired_push()
    assert push["notification"] == {
        "title": "Driver Assignment Expired",
        "body": "Ravi did not accept the trip to DBS Kondli. Please reassign.",
    }
    assert (
        push["android"]["collapse_key"] == push["apns"]["headers"]["apns-collapse-id"]
    )
    assert push["data"]["event"] == "expired"
    # The driver hears of the offer at most once, and not at all when the
    # relay only reached it after it had ended (the library does not announce
    # stale offers), which a loaded machine can do within a 3 s timeout; then
    # once that it expired, under the same collapse key, which replaces it.
    offers = [m for m in pushes() if m["token"] == "ravi-phone"]
    titles = [m["notification"]["title"] for m in offers]
    assert titles in (["Trip Offer Expired"], ["New Trip Offer", "Trip Offer Expired"])
    assert {m["android"]["collapse_key"] for m in offers} == {
        push["android"]["collapse_key"]
    }

    # The guide's commands, against the running worker.
    registered = stack.run("-m", "celery", "-A", "backend", "inspect", "registered")
    assert "logistics.check_expired_driver_assignments" in registered
    assert "logistics.notify_eic_assignment_expired" in registered
    shell = stack.run(
        "manage.py",
        "shell",
        "-c",
        "from logistics.tasks import check_expired_driver_assignments\n"
        "result = check_expired_driver_assignments.delay()\n"
        "print(result.get(timeout=30))",
    )
    assert shell.strip().splitlines()[-1] == "{'expired_count': 0}"

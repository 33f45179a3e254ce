"""The Celery scheduler never sends through Celery's fallback app.

In a process where the project created no Celery app (a ``celery.py`` the
project package does not import), an offer's tasks would go to the fallback
app's ``amqp://guest@localhost//``, which no worker reads: check E026 says
so, and the scheduler refuses to send rather than lose the tasks. A
scheduler that sends nothing (``precise`` and ``deliver`` off) needs no app.
Once the project creates its app, that is the app used. Run in a fresh
interpreter, since this process has Celery apps already.
"""

from __future__ import annotations

from tests.support.children import json_line, run_python


def test_without_a_project_app_the_scheduler_refuses_to_send_and_e026_says_why():
    found = json_line(run_python("-m", "tests.support.celery_app_probe", timeout=60))

    assert found["project_app"] is False
    assert found["sending_checks"] == ["assignment_timeout.E026"]
    assert "check E026" in found["app_error"]
    assert "from .celery import app as celery_app" in found["app_error"]
    # Nothing to send, nothing to warn about.
    assert found["silent_checks"] == []
    # The project's app, once created, is found and used.
    assert found["after_checks"] == []
    assert found["after_app_is_project"] is True

"""The tutorial, and the exceptions recipe, done as a new user would.

Each test starts a project the way the page says (``startproject`` and
``startapp`` on the built wheel), pastes the page's blocks where the page
says to, runs the page's commands, and checks what the page shows.
"""

from __future__ import annotations

import json

from tests.docs.blocks import block
from tests.docs.project import tutorial_project


def test_the_tutorial_runs_as_shown(tmp_path, wheel_python):
    project = tutorial_project(tmp_path, wheel_python)

    # Steps 3 and 4 are one shell session, pasted in the order shown.
    session = block("tutorial-session-late") + block("tutorial-session-sweep")
    output = project.manage("shell", stdin=session)

    shown = block("tutorial-session-late-output") + block(
        "tutorial-session-sweep-output"
    )
    assert output.splitlines()[-len(shown.splitlines()) :] == shown.splitlines()
    project.console(block("tutorial-sweep"))  # compares the sweep's output
    status = "from repairs.models import Repair; print(Repair.objects.get().status)"
    assert project.manage("shell", "-c", status).splitlines()[-1] == "open"


def test_the_exceptions_recipe_maps_refusals_to_responses(tmp_path, wheel_python):
    project = tutorial_project(tmp_path, wheel_python)
    project.write("repairs/views.py", block("exceptions-view"))
    # The URL is the user's choice; the page leaves routing to them.
    project.append(
        "mysite/urls.py",
        "from repairs.views import accept_repair\n"
        'urlpatterns += [path("repairs/<pk>/accept/", accept_repair)]\n',
    )
    answers = project.manage(
        "shell",
        stdin="""\
import json
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import setup_test_environment
from repairs.models import Repair

setup_test_environment()  # lets the test client's host in
alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
repair = Repair.objects.create(title="Boiler")
repair.offer(alice)
answers = []
for user, attempt in [(bob, "1"), (alice, "x"), (alice, "1"), (alice, "1")]:
    client = Client()
    client.force_login(user)
    response = client.post(f"/repairs/{repair.pk}/accept/", {"attempt": attempt})
    answers.append([response.status_code, response.json()["code"]])
print(json.dumps(answers))
""",
    )
    statuses = json.loads(answers.splitlines()[-1])
    assert [status for status, _ in statuses] == [403, 400, 200, 409]
    assert statuses[2] == [200, "accepted"]


def test_the_reference_pages_settings_pass_the_checks(tmp_path, wheel_python):
    """The notifier and scheduler settings shown in the reference, in settings.py."""
    project = tutorial_project(tmp_path, wheel_python)
    # What the pages say the settings need: the service-account file (its
    # content is Firebase's; the check reads it as JSON) and a Celery app.
    project.write("firebase-service-account.json", "{}")
    project.write(
        "mysite/celery.py", 'from celery import Celery\n\napp = Celery("mysite")\n'
    )
    project.write("mysite/__init__.py", "from .celery import app as celery_app\n")
    project.append("mysite/settings.py", block("notifiers-settings"))
    project.append("mysite/settings.py", block("schedulers-settings"))
    assert project.manage("check").splitlines() == [
        "System check identified no issues (0 silenced)."
    ]

"""docs/guides/fcm.rst, run: its settings, token resolver and receiver blocks in
a throwaway project whose pushes go to the local fake of FCM.

The project has the guide's ``logistics`` app: a ``DeviceToken`` model,
``logistics/push.py`` exactly as the guide writes it, and the guide's
``fcm_token_invalid`` receiver in ``logistics/signals.py`` (with the model
import the block leaves out, connected from ``AppConfig.ready``). Two edits
make the settings block reach the fake instead of Google, and no more: the
``credentials`` path is a service-account file whose token endpoint is the
fake, and ``fcm_url`` (a test-only option) is the fake's send URL. The
project runs with this suite's interpreter (the package installed in it
editable).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.docs.blocks import block
from tests.support import guide_project
from tests.support.children import json_line
from tests.support.fcm_fake import FakeFCM
from tests.support.guide_project import project_env, write_project

LOGISTICS_MODELS = """\
from django.conf import settings
from django.db import models


class DeviceToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    token = models.CharField(max_length=200, unique=True)
    active = models.BooleanField(default=True)
"""

LOGISTICS_APPS = """\
from django.apps import AppConfig


class LogisticsConfig(AppConfig):
    name = "logistics"

    def ready(self):
        from logistics import signals  # noqa: F401  (connects the receiver)
"""

#: A user with a live device and a dead one, offered a page; prints the ids.
OFFER = """\
import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django

django.setup()

from django.contrib.auth.models import User  # noqa: E402

from logistics.models import DeviceToken  # noqa: E402
from pages.models import Page  # noqa: E402

user = User.objects.create(username="driver")
DeviceToken.objects.create(user=user, token="device-live")
DeviceToken.objects.create(user=user, token="device-dead")
DeviceToken.objects.create(user=user, token="device-old", active=False)
page = Page.objects.create()
page.offer(user, timeout=600)
print(json.dumps({"page": page.pk}))
"""

TOKENS = """\
import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
import django

django.setup()

from logistics.models import DeviceToken  # noqa: E402

print(json.dumps(dict(DeviceToken.objects.values_list("token", "active"))))
"""


@pytest.fixture(autouse=True)
def _on_the_built_wheel(wheel_python, monkeypatch):
    """Every project of this module runs on a venv with the built wheel installed."""
    monkeypatch.setattr(guide_project, "PYTHON", str(wheel_python))


def _settings(credentials: Path, fake: FakeFCM) -> str:
    text = block("fcm-settings")
    for old, new in {
        '"/etc/secrets/firebase.json"': repr(str(credentials)),
        '"http_timeout": 10,': f'"http_timeout": 10, "fcm_url": {fake.fcm_url!r},',
    }.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _project(path: Path, fake: FakeFCM) -> Path:
    credentials = path.parent / "firebase.json"
    credentials.write_text(json.dumps(fake.credentials_info()))
    receiver = block("fcm-receiver")
    return write_project(
        path,
        {
            "settings": _settings(credentials, fake),
            "logistics/__init__.py": "",
            "logistics/apps.py": LOGISTICS_APPS,
            "logistics/models.py": LOGISTICS_MODELS,
            "logistics/push.py": block("fcm-push-py"),
            "logistics/signals.py": (
                "from logistics.models import DeviceToken\n" + receiver
            ),
            "offer.py": OFFER,
            "tokens.py": TOKENS,
        },
        apps=("pages", "logistics"),
    )


def _env() -> dict[str, str]:
    return {**project_env(), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}


def _python(project: Path, *args: str):
    return guide_project.run_in(project, *args, env=_env(), timeout=60)


def test_the_token_resolver_block_is_the_module_it_names():
    assert block("fcm-push-py").startswith("# logistics/push.py\n")
    assert '"token_resolver": "logistics.push.tokens_for"' in block("fcm-settings")


@pytest.mark.slow
def test_the_guides_project_pushes_to_live_tokens_and_deactivates_a_dead_one(
    tmp_path,
):
    with FakeFCM() as fake:
        project = _project(tmp_path / "site", fake)
        checked = _python(project, "manage.py", "check")
        assert checked.returncode == 0, checked.stderr
        # check reads the credentials file without contacting Google (the fake).
        assert fake.sends() == [] and fake.token_requests == 0
        for command in (["makemigrations", "pages", "logistics"], ["migrate"]):
            ran = _python(project, "manage.py", *command)
            assert ran.returncode == 0, ran.stdout + ran.stderr
        page = json_line(_python(project, "offer.py"))["page"]
        fake.fail("device-dead", "UNREGISTERED")
        # The default scheduler's command delivers pending notifications.
        relayed = _python(project, "manage.py", "expire_assignments")
        assert relayed.returncode == 0, relayed.stderr
        delivered = fake.messages()
        tried = sorted(s["body"]["message"]["token"] for s in fake.sends())
    # The resolver gave the user's active devices only.
    assert tried == ["device-dead", "device-live"]
    [message] = delivered
    assert message["token"] == "device-live"
    assert message["data"]["assignment_id"] == str(page)
    assert message["data"]["event"] == "offered"
    assert message["android"]["collapse_key"]
    # The guide's receiver ran on UNREGISTERED: that token, and only it, is off.
    assert json_line(_python(project, "tokens.py")) == {
        "device-live": True,
        "device-dead": False,
        "device-old": False,
    }
    assert "BEGIN PRIVATE KEY" not in relayed.stdout + relayed.stderr

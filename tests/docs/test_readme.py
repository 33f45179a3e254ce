"""The README's quickstart, done as its reader would, on the built wheel.

Its two blocks (the model, the offer and the accept) go into a fresh
project's app; then what the sentence after them says: the app in
``INSTALLED_APPS``, ``makemigrations``, ``migrate``, and the sweep command.
"""

from __future__ import annotations

from tests.docs.blocks import block
from tests.docs.project import start_project


def test_the_quickstart_offers_and_accepts(tmp_path, wheel_python):
    project = start_project(tmp_path / "site", wheel_python, "repairs")
    project.append(
        "mysite/settings.py",
        'INSTALLED_APPS += ["django_assignment_timeout", "repairs"]\n',
    )
    project.write("repairs/models.py", block("quickstart-model"))
    project.manage("makemigrations", "repairs")
    project.manage("migrate", "--verbosity", "0")
    assert project.manage("check").splitlines() == [
        "System check identified no issues (0 silenced)."
    ]

    shown = project.manage(
        "shell", stdin=block("quickstart-usage") + "print(repair.status)\n"
    )

    assert shown.splitlines()[-1] == "taken"
    assert project.manage("expire_assignments") == "expired 0 in 1 batch(es)\n"

"""The testing guide, done as the page says: its settings, fixtures and tests.

On the tutorial's project, with the page's ``pytest.ini``, test settings,
``conftest.py`` and two test files, ``pytest`` (from the wheel's venv) must
collect and pass exactly the page's two tests.
"""

from __future__ import annotations

from tests.docs.blocks import block
from tests.docs.project import tutorial_project


def test_the_testing_guide_tests_pass_as_pasted(tmp_path, wheel_python):
    project = tutorial_project(tmp_path, wheel_python)
    project.write("mysite/test_settings.py", block("testing-settings"))
    project.write("pytest.ini", block("testing-pytest-ini"))
    project.write("repairs/conftest.py", block("testing-conftest"))
    project.write("repairs/test_offers.py", block("testing-outbox"))
    project.write("repairs/test_expiry.py", block("testing-make-due"))

    output = project.run("-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly")

    assert "2 passed" in output.splitlines()[-1], output

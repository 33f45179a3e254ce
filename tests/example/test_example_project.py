"""Runs the GTS example's own test suite (example_project/tests) in its own process.

The example has its own settings (its apps, DRF, Celery), and pytest-django
configures one settings module per process, so the root suite runs the
example's suite as a subprocess with the same database selection. The same
command by hand, from the repository root::

    cd example_project && python -m pytest
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.children import run_python

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"


@pytest.mark.slow
@pytest.mark.timeout(960)  # the example's suite has 900 s
def test_example_project_suite():
    env = dict(os.environ)
    # The example's suite gets its own test database name.
    env.setdefault("TEST_DB_NAME", "assignment_timeout")
    result = run_python("-m", "pytest", "-q", env=env, cwd=EXAMPLE, timeout=900)
    output = result.stdout + result.stderr
    # Show the example suite's summary (and its skips) in this run's output.
    print(output[-4000:])
    assert result.returncode == 0, output[-20000:]

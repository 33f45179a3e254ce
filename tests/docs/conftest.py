"""The docs suite's one expensive step, shared: the built wheel in its venv."""

from __future__ import annotations

import pytest

from tests.docs.project import built_wheel, sqlite_only_reason, wheel_venv


@pytest.fixture(scope="session")
def wheel_python(tmp_path_factory):
    """The python of a venv that has the built wheel installed (built once)."""
    if reason := sqlite_only_reason():
        pytest.skip(reason)
    wheel = built_wheel(tmp_path_factory.mktemp("wheel"))
    return wheel_venv(tmp_path_factory.mktemp("venv") / "venv", wheel)

"""Fixtures for the browser tests: the running example and Debian's Chromium.

Playwright drives the system Chromium (``apt-get install chromium``); it never
downloads a browser. Without Chromium or the playwright package the tests are
skipped with the reason, except in CI (``REQUIRE_SERVICES=1``) where that is a
failure.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests import services
from tests.browser.axe import assert_accessible
from tests.browser.server import start_example

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def _missing() -> str | None:
    for module in ("playwright", "axe_playwright_python"):
        if importlib.util.find_spec(module) is None:
            return f"needs the {module} package (in the test dependency group)"
    for module in ("daphne", "rest_framework"):
        if importlib.util.find_spec(module) is None:
            return f"needs {module} to run the example (the example dependency group)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs Chromium at {CHROMIUM}: apt-get install -y chromium"
    return None


def pytest_collection_modifyitems(config, items):
    """Skip (or, in CI, fail) the browser tests when the browser is missing.

    The example keeps its own SQLite database whatever TEST_DATABASE says, so
    the PostgreSQL and MySQL runs skip these tests rather than repeat them.
    """
    if services.database() != "sqlite":
        reason = "runs once, in the SQLite run: the example has its own database"
    else:
        reason = _missing()
        if reason is None or services.required():
            return
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def example(tmp_path):
    """The GTS example running on 127.0.0.1 with a 5 s driver timeout.

    One per test, with fresh demo data: shared, a test found the requests
    the tests before it had offered (an expired offer where it expected none),
    so each passed only in file order."""
    server = start_example(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """A headless Debian Chromium, driven by Playwright."""
    reason = _missing()
    if reason is not None:
        pytest.fail(reason)  # REQUIRE_SERVICES=1: a missing browser fails CI
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def screenshot():
    """Save a full-page screenshot under screenshots/ (gitignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(page, name):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture
def axe_check():
    """Check a page with axe-core: ``axe_check(page, "what it shows now")``.

    Call it after each state worth checking (the page loaded, an action that
    changed it); pass ``pages=THIRD_PARTY`` for pages we do not template."""
    return assert_accessible

"""Run the real axe-core engine on a page and fail on what it finds.

axe-core comes from the ``axe-playwright-python`` package (the test
dependency group), which bundles ``axe.min.js``; nothing of axe is kept in
this repository. We inject that script ourselves rather than call the
package's ``Axe.run`` so that the options (rules, tags) and the report are
ours to choose.

What fails:

- On the example's own pages (``OWN``: templates we can fix) every violation
  fails, whatever its impact. The pages are small and ours, so "moderate"
  and "minor" findings (a missing landmark, a heading skipped) are cheap to
  fix, and a test that let them through would let them pile up.
- On third-party pages (the Django admin, Swagger UI) only "serious" and
  "critical" violations fail: their templates are not ours to fix, and the
  lesser findings there would be noise we could only silence.
"""

from __future__ import annotations

import json
from functools import cache

# WCAG 2.x A and AA plus axe's best practices: what the project's standard
# means by "tested with axe-core".
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
SEVERE = ("serious", "critical")
# The sizes the project's standard names: a desktop and a 390x844 phone.
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
OWN = "own"
THIRD_PARTY = "third-party"


@cache
def _script() -> str:
    from axe_playwright_python.base import AXE_SCRIPT

    return AXE_SCRIPT


def violations(page, impacts=None, disable=()) -> list[dict]:
    """axe-core's violations on the page as it is now, of the given impacts."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_script())
    options = {
        "runOnly": {"type": "tag", "values": TAGS},
        "rules": {rule: {"enabled": False} for rule in disable},
        "resultTypes": ["violations"],
    }
    result = page.evaluate("options => axe.run(document, options)", options)
    found = result["violations"]
    if impacts is not None:
        found = [v for v in found if v["impact"] in impacts]
    return found


def report(found: list[dict]) -> str:
    """One line per violation and the first few elements it names."""
    lines = []
    for violation in found:
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        for node in violation["nodes"][:5]:
            lines.append(f"    {json.dumps(node['target'])}: {node['html'][:160]}")
            if node.get("failureSummary"):
                summary = " ".join(node["failureSummary"].split())
                lines.append(f"        {summary[:300]}")
    return "\n".join(lines)


def assert_accessible(
    page, state: str, pages: str = OWN, disable=(), sizes=None
) -> None:
    """Fail with axe's report if the page in this state has violations.

    ``state`` names the moment checked ("board, offer counting down") so a
    failure says which one; ``pages`` is OWN or THIRD_PARTY (see above).
    ``disable`` switches rules off: only for third-party pages, each with the
    reason at the call. With ``sizes`` (e.g. ``SIZES.values()``) the page is
    resized to each in turn and back, for tests that run at one size only.
    """
    impacts = None if pages == OWN else SEVERE
    original = page.viewport_size
    failures = []
    for size in sizes or [None]:
        if size is not None:
            width, height = size
            page.set_viewport_size({"width": width, "height": height})
        found = violations(page, impacts, disable)
        if found:
            now = page.viewport_size or {}
            failures.append(
                f"{state} at {now.get('width')}x{now.get('height')} ({page.url}):\n"
                + report(found)
            )
    if sizes and original is not None:
        page.set_viewport_size(original)
    assert not failures, "axe-core found violations on " + "\n".join(failures)

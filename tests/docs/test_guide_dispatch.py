"""The dispatch and reminder guides, done as their pages say, on the tutorial's project.

One test, so the project is built once: first the dispatch guide (its model
with a policy, its receiver and app config, its shell session, whose output
must be the page's, line for line; then its broadcast policy and session),
then the reminder guide (the tutorial's
model with the page's ``AssignmentMeta``, and its session).
"""

from __future__ import annotations

import re
import textwrap

from tests.docs.blocks import block
from tests.docs.project import tutorial_project


def _printed_and_shown(project, session: str, shown: str) -> tuple[list[str], ...]:
    """The last lines a pasted shell session prints, and the lines its page shows.

    The shell's own banner (the models it imported) comes first; the log
    notifier writes to stderr.
    """
    output = project.manage("shell", stdin=block(session)).splitlines()
    expected = block(shown).splitlines()
    return output[-len(expected) :], expected


def test_the_dispatch_and_reminder_guides_run_as_shown(tmp_path, wheel_python):
    project = tutorial_project(tmp_path, wheel_python)

    project.write("repairs/models.py", block("dispatch-models"))
    project.write("repairs/receivers.py", block("dispatch-receivers"))
    project.write("repairs/apps.py", block("dispatch-apps"))
    # The policy changes no table: the tutorial's migration still fits.
    project.manage("makemigrations", "--check", "--dry-run")
    project.manage("check")
    printed, shown = _printed_and_shown(project, "dispatch-session", "dispatch-output")
    assert printed == shown

    # The broadcast section: its policy in place of the sequential one.
    models, count = re.subn(
        r"dispatch = Sequential\(.*?\n\s*\)",
        block("dispatch-broadcast-policy"),
        block("dispatch-models").replace(
            "policies import Sequential", "policies import Broadcast"
        ),
        flags=re.DOTALL,
    )
    assert count == 1
    project.write("repairs/models.py", models)
    project.manage("makemigrations", "--check", "--dry-run")
    project.manage("check")
    printed, shown = _printed_and_shown(
        project, "dispatch-broadcast-session", "dispatch-broadcast-output"
    )
    assert printed == shown

    # The reminder guide's declarations, in place of the tutorial's.
    tutorial = block("tutorial-models")
    meta = textwrap.indent(block("reminders-meta"), "    ")
    models, count = re.subn(
        r"    class AssignmentMeta:\n(?:        .*\n)+", meta, tutorial
    )
    assert count == 1
    project.write("repairs/models.py", models)
    project.manage("makemigrations", "--check", "--dry-run")
    project.manage("flush", "--no-input")
    printed, shown = _printed_and_shown(
        project, "reminders-session", "reminders-output"
    )
    assert printed == shown

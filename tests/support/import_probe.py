"""A clean interpreter's view of what importing the package pulls in.

    python -m tests.support.import_probe optional celery,huey,...
    python -m tests.support.import_probe version

``optional``: imports the package before Django is set up, sets Django up
with the test settings (``DJANGO_SETTINGS_MODULE``), imports its models,
loads both its commands and runs the system checks, then prints (one JSON
line) which of the named top-level packages are in ``sys.modules``.
``version``: imports the package before Django is set up and prints its
version and how many names it exports. Run in a fresh interpreter: the pytest
process has imported every integration already.
"""

from __future__ import annotations

import json
import sys


def optional(names: set[str]) -> list[str]:
    import django

    import django_assignment_timeout

    django.setup()
    from django.core import checks
    from django.core.management import load_command_class

    import django_assignment_timeout.models  # noqa: F401

    load_command_class("django_assignment_timeout", "expire_assignments")
    load_command_class("django_assignment_timeout", "deliver_assignment_events")
    load_command_class("django_assignment_timeout", "assignment_status")
    checks.run_checks()
    return sorted(m for m in sys.modules if m.split(".")[0] in names)


def version() -> str:
    import django_assignment_timeout as package

    return f"{package.__version__} {len(package.__all__)}"


if __name__ == "__main__":
    if sys.argv[1] == "optional":
        print(json.dumps(optional(set(sys.argv[2].split(",")))), flush=True)
    else:
        print(version(), flush=True)

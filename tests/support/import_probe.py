"""A clean interpreter's view of what importing the package pulls in.

    python -m tests.support.import_probe optional celery,huey,...
    python -m tests.support.import_probe version

``optional``: with minimal settings, imports the package, sets Django up,
imports its models and loads its command, then prints (one JSON line) which
of the named top-level packages are in ``sys.modules``. ``version``: imports
the package before Django is set up and prints its version and how many
names it exports. Run without ``DJANGO_SETTINGS_MODULE``: the pytest
process has imported every integration already.
"""

from __future__ import annotations

import json
import sys


def optional(names: set[str]) -> list[str]:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django_assignment_timeout"],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        USE_TZ=True,
    )
    import django_assignment_timeout

    django.setup()
    from django.core.management import load_command_class

    import django_assignment_timeout.models  # noqa: F401

    load_command_class("django_assignment_timeout", "expire_assignments")
    return sorted(m for m in sys.modules if m.split(".")[0] in names)


def version() -> str:
    import django_assignment_timeout as package

    return f"{package.__version__} {len(package.__all__)}"


if __name__ == "__main__":
    if sys.argv[1] == "optional":
        print(json.dumps(optional(set(sys.argv[2].split(",")))), flush=True)
    else:
        print(version(), flush=True)

"""Run Django with optional extras made unimportable, as on a machine without them.

    python -m tests.support.blocked_imports celery,huey,django_tasks \
        [dotted.Backend ...]

Imports every module of the package, runs the system checks, then runs them
again with each given scheduler backend selected, and prints one JSON line:
which modules failed to import and with what, and the serious check messages.
"""

from __future__ import annotations

import importlib
import importlib.abc
import json
import pkgutil
import sys
from typing import Any


class Blocker(importlib.abc.MetaPathFinder):
    """Makes ``names`` and their submodules raise ImportError, like missing packages."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (blocked)", name=fullname
            )


def main(blocked: set[str], backends: list[str]) -> dict[str, Any]:
    sys.meta_path.insert(0, Blocker(blocked))
    import django
    from django.core import checks

    django.setup()
    import django_assignment_timeout

    failed = {}
    # A package whose extra is missing fails to import; it is recorded below,
    # and walk_packages need not look inside it.
    for info in pkgutil.walk_packages(
        django_assignment_timeout.__path__,
        "django_assignment_timeout.",
        onerror=lambda name: None,
    ):
        try:
            importlib.import_module(info.name)
        except Exception as err:
            failed[info.name] = f"{type(err).__module__}.{type(err).__name__}: {err}"
    from django.test import override_settings

    def serious() -> list[list[str | None]]:
        return [[m.id, m.msg] for m in checks.run_checks() if m.is_serious()]

    selected = {}
    for backend in backends:
        with override_settings(ASSIGNMENT_TIMEOUT_SCHEDULER={"BACKEND": backend}):
            selected[backend] = serious()
    return {
        "failed": failed,
        "checks": serious(),
        "selected": selected,
    }


if __name__ == "__main__":
    names = {n for n in sys.argv[1].split(",") if n}
    print(json.dumps(main(names, sys.argv[2:])), flush=True)

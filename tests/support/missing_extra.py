"""What importing a module says when the package of its extra is not installed.

    python -m tests.support.missing_extra health_check django_assignment_timeout.health

Makes the first package unimportable, imports the second module and prints
the ``MissingExtraError`` it raised (nothing if it raised none).
"""

from __future__ import annotations

import importlib
import sys


def main(blocked: str, module: str) -> str:
    sys.modules[blocked] = None  # type: ignore[assignment]  # import fails
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django_assignment_timeout"]
    )
    import django

    django.setup()
    from django_assignment_timeout.exceptions import MissingExtraError

    try:
        importlib.import_module(module)
    except MissingExtraError as err:
        return str(err)
    return ""


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2]), flush=True)

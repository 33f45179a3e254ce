"""What importing the FCM backend says when firebase-admin is not installed.

    python -m tests.support.missing_fcm

Makes ``firebase_admin`` unimportable, imports the backend and prints the
``MissingExtraError`` it raised (nothing if it raised none).
"""

from __future__ import annotations

import sys


def main() -> str:
    sys.modules["firebase_admin"] = None  # type: ignore[assignment]  # import fails
    from django.conf import settings

    settings.configure()
    from django_assignment_timeout.exceptions import MissingExtraError

    try:
        import django_assignment_timeout.notifiers.fcm  # noqa: F401
    except MissingExtraError as err:
        return str(err)
    return ""


if __name__ == "__main__":
    print(main(), flush=True)

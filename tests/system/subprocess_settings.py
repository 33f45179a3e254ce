"""Settings for the Django processes a system test starts (schedulers, workers).

The test suite's settings, pointed at the test database the running test
uses (``SYSTEM_DB_NAME``). On PostgreSQL the connection carries an
``application_name`` (``SYSTEM_APP_NAME``) so a test can find that process's
backend in ``pg_stat_activity``. ``SYSTEM_SETTINGS`` (a JSON object) sets
any other setting, e.g. the scheduler and notifier backends of a worker.
"""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["SYSTEM_DB_NAME"]
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = os.environ.get(
        "SYSTEM_APP_NAME", "system-test"
    )

globals().update(json.loads(os.environ.get("SYSTEM_SETTINGS", "{}")))

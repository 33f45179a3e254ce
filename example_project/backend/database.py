"""``DATABASES["default"]`` from ``DATABASE_URL``, with this project's options.

dj-database-url reads the URL. SQLite in the project directory is the
embedded default; Render and other hosts give a ``postgres://`` URL. What
this module adds are the options the project needs on top of the URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

SQLITE = "django.db.backends.sqlite3"
MYSQL = "django.db.backends.mysql"

#: SQLite has one writer: take the write lock at BEGIN and wait for it, so the
#: web process, the sweeper and a worker can share the file.
SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20}

#: Server databases keep a connection for a minute instead of one per request.
CONN_MAX_AGE = 60


def config(base_dir: Path, default: str = "sqlite:///db.sqlite3") -> dict[str, Any]:
    """``DATABASE_URL`` (``default`` when unset) as a ``DATABASES`` entry."""
    settings: dict[str, Any] = dict(
        dj_database_url.config(default=default, conn_max_age=CONN_MAX_AGE)
    )
    options = settings.get("OPTIONS", {})
    if settings["ENGINE"] == SQLITE:
        # Opening a file costs nothing to keep; a relative sqlite:///name is
        # the project directory's, wherever the command runs from.
        settings["CONN_MAX_AGE"] = 0
        if settings["NAME"] != ":memory:":
            settings["NAME"] = str(base_dir / settings["NAME"])
        settings["OPTIONS"] = {**SQLITE_OPTIONS, **options}
    elif settings["ENGINE"] == MYSQL:
        settings["OPTIONS"] = {"charset": "utf8mb4", **options}
    return settings

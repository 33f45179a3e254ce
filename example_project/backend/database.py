"""``DATABASE_URL`` to a ``DATABASES["default"]`` entry, for the schemes we use.

SQLite in the project directory is the embedded default; Render and other
hosts give a ``postgres://`` URL. Kept here (twenty lines) rather than adding
a dependency for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
}

#: SQLite has one writer: take the write lock at BEGIN and wait for it, so the
#: web process, the sweeper and a worker can share the file.
SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20}


def parse(url: str, base_dir: Path) -> dict[str, Any]:
    """Turn ``scheme://user:password@host:port/name?option=value`` into settings."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ENGINES:
        raise ValueError(
            f"DATABASE_URL scheme must be one of {sorted(ENGINES)}, not {scheme!r}"
        )
    if scheme == "sqlite":
        # sqlite:///relative.sqlite3 or sqlite:////absolute/path.sqlite3
        name = parts.path[1:] if parts.path.startswith("/") else parts.path
        path = Path(name)
        return {
            "ENGINE": ENGINES[scheme],
            "NAME": str(path if path.is_absolute() else base_dir / path),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    config: dict[str, Any] = {
        "ENGINE": ENGINES[scheme],
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
        "OPTIONS": dict(parse_qsl(parts.query)),
    }
    if scheme == "mysql":
        config["OPTIONS"].setdefault("charset", "utf8mb4")
    return config

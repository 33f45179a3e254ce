"""``DATABASE_URL`` to ``DATABASES["default"]``: the project's options on top of the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend import database


@pytest.fixture
def url(monkeypatch):
    def set_url(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("DATABASE_URL", value)

    return set_url


def test_unset_is_sqlite_in_the_project_directory(url, tmp_path):
    url(None)
    config = database.config(tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "db.sqlite3")
    assert config["OPTIONS"] == {"transaction_mode": "IMMEDIATE", "timeout": 20}
    assert config["CONN_MAX_AGE"] == 0


def test_sqlite_paths_relative_to_the_project_absolute_as_given(url, tmp_path):
    url("sqlite:///data/gts.sqlite3")
    assert database.config(tmp_path)["NAME"] == str(tmp_path / "data/gts.sqlite3")
    url("sqlite:////var/gts/gts.sqlite3")
    assert database.config(tmp_path)["NAME"] == "/var/gts/gts.sqlite3"


def test_postgres_url_keeps_connections_and_passes_options(url):
    url("postgres://gts:p%40ss@db.internal:5433/gts?sslmode=require")
    config = database.config(Path("/unused"))
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"]) == ("gts", "p@ss")
    assert (config["HOST"], str(config["PORT"]), config["NAME"]) == (
        "db.internal",
        "5433",
        "gts",
    )
    assert config["CONN_MAX_AGE"] == 60
    assert config["OPTIONS"] == {"sslmode": "require"}


def test_mysql_defaults_to_utf8mb4_unless_the_url_says(url):
    url("mysql://root@127.0.0.1:3306/gts")
    assert database.config(Path("/unused"))["OPTIONS"] == {"charset": "utf8mb4"}
    url("mysql://root@127.0.0.1:3306/gts?charset=utf8")
    assert database.config(Path("/unused"))["OPTIONS"] == {"charset": "utf8"}


def test_unknown_scheme_is_refused(url):
    url("oracle+nonsense://x@y/z")
    with pytest.raises(ValueError, match="nonsense"):
        database.config(Path("/unused"))

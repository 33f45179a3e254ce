"""Sphinx configuration for the django-assignment-timeout documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``.

Intersphinx and the network
---------------------------
The CI machine has no internet, and Sphinx turns a failed inventory download
into a warning, which ``-W`` makes fatal. So the Django and Celery links are
resolved offline by default, from small inventories this file writes at build
time from ``_offline_targets.py``: the handful of Django and Celery objects
the pages refer to, each with its real URL on docs.djangoproject.com /
docs.celeryq.dev. The rendered links are the same as with the published
inventories. With ``DOCS_INTERSPHINX=online`` (set it on Read the Docs, which
has the network) the published inventories are tried first and the offline
ones only back them up; intersphinx logs a fallback as info, not a warning.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zlib
from pathlib import Path

import django

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The tutorial's app and the docs' settings module import from here; the
# library itself is installed (tox and dev.py install it).
sys.path[:0] = [str(DOCS), str(DOCS / "tutorial")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")
django.setup()

from _offline_targets import TARGETS  # noqa: E402

import django_assignment_timeout  # noqa: E402

project = "django-assignment-timeout"
author = "django-assignment-timeout developers"
copyright = "2026, django-assignment-timeout developers"
release = django_assignment_timeout.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    # Only for CONTRIBUTING.md, which contributing.rst includes.
    "myst_parser",
]

exclude_patterns = ["_build", "tutorial/repairs/migrations"]
templates_path: list[str] = []
html_theme = "furo"
html_title = f"django-assignment-timeout {release}"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

# -- intersphinx, offline by default (see the module docstring) ---------------

PUBLISHED = {
    "python": "https://docs.python.org/3/",
    "django": "https://docs.djangoproject.com/en/stable/",
    "celery": "https://docs.celeryq.dev/en/stable/",
}
# Django publishes its inventory under _objects/, not objects.inv.
INVENTORY_URL = {"django": "https://docs.djangoproject.com/en/stable/_objects/"}


def _write_inventory(name: str, entries: list[tuple[str, str, str, str]]) -> str:
    """Write an objects.inv (format version 2) for ``entries`` and return its path."""
    lines = [
        f"{target} {role} -1 {uri} {display}\n"
        for target, role, uri, display in entries
    ]
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {name}\n"
        "# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    folder = Path(tempfile.gettempdir()) / f"dat-docs-inventories-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.inv"
    path.write_bytes(header.encode() + zlib.compress("".join(lines).encode()))
    return str(path)


ONLINE = os.environ.get("DOCS_INTERSPHINX") == "online"
intersphinx_mapping = {}
for _name, _url in PUBLISHED.items():
    _local = _write_inventory(_name, TARGETS.get(_name, []))
    _remote = INVENTORY_URL.get(_name)  # None means <url>objects.inv
    _locations = (_remote, _local) if ONLINE else (_local,)
    intersphinx_mapping[_name] = (_url, _locations)
intersphinx_timeout = 10


def setup(app):  # type: ignore[no-untyped-def]
    """Add the ``setting`` role of Django's docs, so ``:setting:`` links resolve."""
    app.add_crossref_type(
        directivename="setting",
        rolename="setting",
        indextemplate="pair: %s; setting",
    )

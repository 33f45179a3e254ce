"""Throwaway projects built from the docs' own blocks, on the built wheel.

A new user installs the wheel from PyPI into their own environment, runs
``django-admin startproject`` and pastes what a page shows. The docs suite
does the same, offline and fast:

* :func:`built_wheel` builds the project's wheel once per test session
  (``pip wheel --no-deps`` on a copy of the source, so nothing is written into
  the work tree).
* :func:`wheel_venv` makes a venv for it: no pip, no downloads. Its
  ``site-packages`` holds the installed wheel (a wheel is a zip archive laid
  out for site-packages: unpacking it is installing it) and one ``.pth`` line
  naming the test venv's ``site-packages`` as a plain path, so Django and the
  other dependencies are found there, while that directory's own ``.pth``
  files, among them the editable install's finder that points at ``src/``,
  are never processed. The venv asserts that the library it imports is the
  wheel's.
* :class:`Project` is one user's project in a temporary directory: every
  command runs in a subprocess of that venv, as ``python manage.py ...``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.docs.blocks import ROOT, block

# What the sdist/wheel is built from: the tracked inputs of pyproject.toml.
_SOURCE = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "src"]


def sqlite_only_reason() -> str:
    """Why the suite skips on other databases: the pages' projects use SQLite.

    Each page's project is the one the page tells a new user to make
    (``startproject``'s SQLite database); on the PostgreSQL and MySQL stages
    it would only run the very same thing again.
    """
    database = os.environ.get("TEST_DATABASE", "sqlite")
    return (
        "" if database == "sqlite" else f"the docs' projects use SQLite, not {database}"
    )


def built_wheel(directory: Path) -> Path:
    """Build the project's wheel into ``directory`` and return its path."""
    source = directory / "source"
    source.mkdir()
    for name in _SOURCE:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(
                origin,
                source / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )
        elif origin.exists():
            shutil.copy2(origin, source / name)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            directory,
            source,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [wheel] = directory.glob("django_assignment_timeout-*.whl")
    return wheel


def wheel_venv(directory: Path, wheel: Path) -> Path:
    """A venv with ``wheel`` installed and the test venv's packages; its python."""
    venv.EnvBuilder(with_pip=False).create(directory)
    python = directory / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(purelib)
    # A plain path in a .pth adds that directory to sys.path and nothing else:
    # the test venv's own .pth files (the editable install) are not run.
    dependencies = sysconfig.get_paths()["purelib"]
    Path(purelib, "zz_test_venv_packages.pth").write_text(dependencies + "\n")
    where = subprocess.run(
        [python, "-c", "import django_assignment_timeout as d; print(d.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(purelib), f"the library came from {where}, not the wheel"
    return python


@dataclass
class Project:
    """A user's project in ``path``, driven with the wheel venv's ``python``."""

    path: Path
    python: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str | Path, stdin: str = "", timeout: float = 120) -> str:
        """Run ``python ARGS`` in the project; it must succeed. Its stdout."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV"}
        }
        env.update(PYTHONWARNINGS="error", PYTHONDONTWRITEBYTECODE="1", **self.env)
        done = subprocess.run(
            [self.python, *args],
            cwd=self.path,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{args}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def manage(self, *args: str, stdin: str = "") -> str:
        """``python manage.py ARGS``."""
        return self.run("manage.py", *args, stdin=stdin)

    def write(self, relative: str, text: str) -> None:
        """Create or replace a file of the project, as the page says to."""
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def append(self, relative: str, text: str) -> None:
        """Add ``text`` at the end of a file of the project."""
        path = self.path / relative
        path.write_text(path.read_text() + "\n" + text)

    def console(self, transcript: str) -> None:
        """Run a console block: each ``$ `` line, checking the output shown."""
        steps: list[tuple[str, list[str]]] = []
        for line in transcript.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.strip():
                steps[-1][1].append(line)
        for command, shown in steps:
            words = command.split()
            if words[0] == "django-admin":  # the same program, from this venv
                output = self.run("-m", "django", *words[1:])
            else:
                assert words[:2] == ["python", "manage.py"], command
                output = self.manage(*words[2:])
            if shown:
                assert output.splitlines() == shown, command


def start_project(directory: Path, python: Path, *apps: str) -> Project:
    """``django-admin startproject mysite .`` then ``startapp`` for each app."""
    directory.mkdir(parents=True, exist_ok=True)
    project = Project(directory, python)
    project.run("-m", "django", "startproject", "mysite", ".")
    for app in apps:
        project.manage("startapp", app)
    return project


def tutorial_project(tmp_path: Path, wheel_python: Path) -> Project:
    """The tutorial's steps 1 and 2: project, settings, model, tables.

    The testing guide and the exceptions recipe build on this project.
    """
    (tmp_path / "site").mkdir()
    project = Project(tmp_path / "site", wheel_python)
    project.console(block("tutorial-startproject"))
    project.append("mysite/settings.py", block("tutorial-settings"))
    project.write("repairs/models.py", block("tutorial-models"))
    project.console(block("tutorial-migrate"))
    return project

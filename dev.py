#!/usr/bin/env python3
"""A new user's two commands, and the setup they share.

    python3 dev.py test       # set up .venv, run the test suite on SQLite
    python3 dev.py example    # set up .venv, run the GTS example (embedded scheduler)

Each sets itself up on a machine with only Python: it creates ``.venv`` with
the running interpreter, installs the project and what the command needs, and
re-runs itself inside it. Extra arguments go to pytest (``test``) or to the
example's runner (``example``). ``--database postgresql|mysql`` runs the same
suite against a local server; tests that need a service which is not running
are skipped with the reason (``REQUIRE_SERVICES=1`` turns those skips into
failures, as CI does).

The quality gates are tox environments, defined once in ``tox.ini`` and run
the same way by ``.ci/run``:

    python3 dev.py lint       # tox -e lint: ruff check, ruff format --check
    python3 dev.py types      # tox -e types: mypy --strict with django-stubs
    python3 dev.py docs       # tox -e docs: the Sphinx site, warnings as errors
    python3 dev.py check      # all three

tox and tox-uv live in a venv of their own, ``.dev-tools``, apart from
``.venv``; extra arguments go to ``tox run`` (``-r`` rebuilds the env).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("DEV_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
TOOLS = ROOT / ".dev-tools"
TOOLS_BIN = TOOLS / ("Scripts" if os.name == "nt" else "bin")
TOOLS_REQUIREMENTS = ["tox>=4.22", "tox-uv"]
# The tox environments each gate command runs (tox.ini defines them).
GATES = {
    "lint": ["lint"],
    "types": ["types"],
    "docs": ["docs"],
    "check": ["lint", "types", "docs"],
}

# The extras and dependency groups (pyproject.toml) each command installs: the
# tests exercise every integration, through the extras a user would install.
EXTRAS = {"test": "celery,fcm,health,huey,metrics,tasks", "example": ""}
GROUPS = {
    "test": ["test", "integrations", "example"],
    "example": ["example"],
}


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def setup(groups: list[str], extras: str = "") -> None:
    """Create the venv, install the project[extras] and groups, once per change."""
    if not PYTHON.exists():
        print(f"dev.py: creating {VENV} with {sys.executable}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip>=25.1"])
    parts = [*filter(None, extras.split(",")), *groups]
    stamp = VENV / f".installed-{'-'.join(parts)}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(
        f"dev.py: installing the project[{extras}] with groups {', '.join(groups)}",
        flush=True,
    )
    project = f"{ROOT}[{extras}]" if extras else str(ROOT)
    args = [PYTHON, "-m", "pip", "install", "-q", "-e", project]
    for group in groups:
        args += ["--group", f"{ROOT / 'pyproject.toml'}:{group}"]
    run(args)
    stamp.write_text(digest)


def run(args: list[object], **kwargs: object) -> None:
    result = subprocess.run([str(a) for a in args], check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode:
        sys.exit(result.returncode)


def test(args: list[str]) -> int:
    env = dict(os.environ)
    if "--database" in args:
        index = args.index("--database")
        env["TEST_DATABASE"] = args[index + 1]
        del args[index : index + 2]
    groups = list(GROUPS["test"])
    if env.get("TEST_DATABASE") == "mysql":
        groups.append("mysql")
    setup(groups, EXTRAS["test"])
    return replace_process([str(PYTHON), "-m", "pytest", "-rs", *args], ROOT, env)


def example(args: list[str]) -> int:
    setup(GROUPS["example"], EXTRAS["example"])
    runner = ROOT / "example_project" / "run_example.py"
    return replace_process(
        [str(PYTHON), str(runner), *args], runner.parent, dict(os.environ)
    )


def tox(envs: list[str], args: list[str]) -> int:
    """Run tox environments from the tools venv, installing tox once."""
    stamp = TOOLS / ".installed"
    if not stamp.exists() or stamp.read_text() != " ".join(TOOLS_REQUIREMENTS):
        print(f"dev.py: installing {', '.join(TOOLS_REQUIREMENTS)} into {TOOLS}")
        venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
        python = TOOLS_BIN / ("python.exe" if os.name == "nt" else "python")
        run([python, "-m", "pip", "install", "-q", *TOOLS_REQUIREMENTS])
        stamp.write_text(" ".join(TOOLS_REQUIREMENTS))
    command = [str(TOOLS_BIN / "tox"), "run", "-e", ",".join(envs), *args]
    return replace_process(command, ROOT, dict(os.environ))


def replace_process(command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Become ``command``, so Ctrl-C and SIGTERM reach it (and its cleanup) directly."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # no exec on Windows: wait for the child instead
        return subprocess.call(command, cwd=cwd, env=env)
    os.chdir(cwd)
    os.execve(command[0], command, env)


def main() -> int:
    commands = {"test": test, "example": example}
    if len(sys.argv) < 2 or sys.argv[1] not in {*commands, *GATES}:
        print(__doc__)
        return 2
    name, args = sys.argv[1], sys.argv[2:]
    if name in GATES:
        return tox(GATES[name], args)
    return commands[name](args)


if __name__ == "__main__":
    sys.exit(main())

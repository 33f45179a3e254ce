"""The house rules of ``src/``: one-way layers, small rooms, local imports with a reason.

The import graph is read with ``ast`` (module-level and function-local
imports alike, ``TYPE_CHECKING`` blocks excluded: they never run), so these
tests see the code as written, without importing any of it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "django_assignment_timeout"
NAME = "django_assignment_timeout"

#: Function-local imports of the library's own modules that remain, each with
#: the reason it must be local. (importer, imported): reason.
LOCAL_IMPORTS = {
    (
        f"{NAME}.schedulers.celery.backend",
        f"{NAME}.schedulers.celery.tasks",
    ): "the tasks import the core and so the models, and a project's celery.py "
    "imports the backend (for beat_schedule) before the app registry is ready",
    (
        f"{NAME}.schedulers.huey.backend",
        f"{NAME}.schedulers.huey.tasks",
    ): "huey.contrib.djhuey reads settings.HUEY when imported and may sys.exit() "
    "on a bad one, so the tasks are imported only once HUEY is configured",
    (
        f"{NAME}.schedulers.tasks.backend",
        f"{NAME}.schedulers.tasks.tasks",
    ): "declaring a task validates it against the TASKS setting, which must be "
    "readable by then",
    (
        f"{NAME}.metrics",
        f"{NAME}.metrics.receivers",
    ): "the receivers import prometheus_client, which only a project that turned "
    "ASSIGNMENT_TIMEOUT_METRICS on must have installed",
}

#: The floors of DESIGN.md, lowest first. A module may import only modules on
#: its own floor or below. An entry names a module and its submodules ("a.b"
#: covers a.b and a.b.c), only its submodules ("a.b."), or only itself
#: ("=a.b"); the first entry that matches decides a module's floor.
FLOORS = [
    (
        "ground",
        [
            f"{NAME}._deprecation",
            f"{NAME}.exceptions",
            f"{NAME}.validation",
            f"{NAME}.conf",
            f"{NAME}.clock",
            f"{NAME}.signals",
            f"{NAME}.options",
            f"{NAME}.backends",
            f"{NAME}.expressions",
            f"{NAME}.policies",
            f"={NAME}",  # the package's __init__ only: exceptions and __version__
        ],
    ),
    # The interfaces the core calls and their loaders; never a backend itself.
    (
        "ports",
        [
            f"{NAME}.schedulers.base",
            f"{NAME}.notifiers.base",
            f"{NAME}.schedulers.protocol",
        ],
    ),
    ("port loaders", [f"={NAME}.schedulers", f"={NAME}.notifiers"]),
    (
        "event",
        [
            f"{NAME}.events",
            f"{NAME}.heartbeat",
            f"{NAME}.recipient_delivery",
            f"{NAME}.dispatch_chain",
        ],
    ),
    (
        "core",
        [
            f"{NAME}.after_commit",
            f"{NAME}.notifications",
            f"{NAME}.notifiers.content",
            f"{NAME}.lifecycle",
            f"{NAME}.sweep",
            f"{NAME}.delivery",
            f"{NAME}.wakeup",
            f"{NAME}.retention",
            f"{NAME}.status",
            f"{NAME}.chains",
            f"{NAME}.reminders",
        ],
    ),
    (
        "checks of declarations",
        [f"={NAME}.checks", f"{NAME}.checks.models", f"{NAME}.checks.dispatch"],
    ),
    ("model", [f"{NAME}.queryset", f"{NAME}.models"]),
    (
        "leaves",
        [
            f"{NAME}.schedulers.",  # every backend and the jobs
            f"{NAME}.notifiers.",  # every backend
            f"{NAME}.admin",
            f"{NAME}.management",
            f"{NAME}.checks",
            f"{NAME}.health",
            f"{NAME}.metrics",
            f"{NAME}.testing",
            f"{NAME}.migrations",
            f"{NAME}.apps",
        ],
    ),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or 0) + 1))
    return lines


def _imports(module: str, path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported library module, is function-local) for each import that runs."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_lines(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    local_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local_lines.update(range(node.lineno, (node.end_lineno or 0) + 1))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1]]
                    + ([node.module] if node.module else [])
                )
            # "from pkg import submodule" imports the submodule too.
            targets = [base] + [
                f"{base}.{alias.name}"
                for alias in node.names
                if f"{base}.{alias.name}" in known
            ]
        for target in targets:
            # A module's own packages are already being imported when it runs.
            if target in known and not f"{module}.".startswith(f"{target}."):
                found.append((target, node.lineno in local_lines))
    return found


def _graph() -> dict[str, list[tuple[str, bool]]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) for name, path in modules.items()}
    # Importing a submodule runs its package's __init__ first.
    for name in list(graph):
        edges = graph[name]
        for target, local in list(edges):
            parent = target.rpartition(".")[0]
            while parent.startswith(NAME) and parent != name:
                if parent in known and not name.startswith(f"{parent}."):
                    edges.append((parent, local))
                parent = parent.rpartition(".")[0]
    return graph


def _floor(module: str) -> int:
    for index, (_name, prefixes) in enumerate(FLOORS):
        for entry in prefixes:
            if entry.startswith("="):
                matches = module == entry[1:]
            elif entry.endswith("."):
                matches = module.startswith(entry)
            else:
                matches = module == entry or module.startswith(f"{entry}.")
            if matches:
                return index
    raise AssertionError(f"{module} is on no floor: add it to FLOORS")


def test_the_graph_sees_the_imports_it_must():
    # The reader itself: a module-level import, a function-local one, and
    # the package __init__ a submodule import runs.
    graph = _graph()
    assert (f"{NAME}.clock", False) in graph[f"{NAME}.lifecycle.statements"]
    assert (f"{NAME}.schedulers.celery.tasks", True) in graph[
        f"{NAME}.schedulers.celery.backend"
    ]
    assert (f"{NAME}.notifiers", False) in graph[f"{NAME}.delivery.sending"]


def test_no_import_circle_counting_function_local_imports():
    graph = {m: {t for t, _ in edges} for m, edges in _graph().items()}
    circles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert circles == []


def test_layers_run_one_way():
    upward = [
        f"{module} ({FLOORS[_floor(module)][0]}) imports {target} "
        f"({FLOORS[_floor(target)][0]})"
        for module, edges in _graph().items()
        for target, _local in edges
        if _floor(target) > _floor(module)
    ]
    assert upward == []


def test_function_local_imports_are_listed_with_their_reason():
    local = {
        (module, target)
        for module, edges in _graph().items()
        for target, is_local in edges
        if is_local and not target.startswith(f"{NAME}.migrations")
    }
    # Only the imported module itself (not the packages it drags in).
    direct = {
        (module, target)
        for module, target in local
        if not any(other.startswith(f"{target}.") for m, other in local if m == module)
    }
    assert direct == set(LOCAL_IMPORTS)
    assert all(reason for reason in LOCAL_IMPORTS.values())


@pytest.mark.parametrize("name", sorted(_modules()))
def test_no_module_over_400_lines(name):
    if ".migrations." in name:
        pytest.skip("generated by makemigrations")
    lines = _modules()[name].read_text().count("\n")
    assert lines <= 400, f"{name} has {lines} lines"

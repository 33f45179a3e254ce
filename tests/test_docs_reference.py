"""The reference can not silently fall behind the code.

Every system-check id, setting, signal and public name of the library must
appear in ``docs/``, and every public class, function and method must have a
docstring. Modules are read with ``ast`` rather than imported, so optional
integrations (and ``huey.contrib.djhuey``, which reads settings at import)
are never imported here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "django_assignment_timeout"
DOCS = ROOT / "docs"


def _rst() -> str:
    return "\n".join(path.read_text() for path in sorted(DOCS.rglob("*.rst")))


def _modules() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
        and not any(
            part.startswith("_") and part != "__init__.py" for part in path.parts
        )
    )


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _public_definitions(tree: ast.Module):
    """Top-level public classes and functions, and the public methods of classes."""
    for node in tree.body:
        if isinstance(
            node, (ast.ClassDef, ast.FunctionDef)
        ) and not node.name.startswith("_"):
            yield node.name, node
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and not item.name.startswith(
                        "_"
                    ):
                        yield f"{node.name}.{item.name}", item


def _documented_wholesale(rst: str) -> set[str]:
    """Modules rendered with a bare ``:members:`` (every public member shown)."""
    found = set()
    for match in re.finditer(r"\.\. automodule:: (\S+)\n((?:   .*\n)*)", rst):
        if re.search(r"^   :members:\s*$", match.group(2), re.MULTILINE):
            found.add(match.group(1))
    return found


def test_every_check_id_is_in_the_checks_reference():
    ids = set()
    for path in _modules():
        for match in re.finditer(
            r'id=f?"(?:\{\w+\}|assignment_timeout)\.([EW]\d{3})"', path.read_text()
        ):
            ids.add(f"assignment_timeout.{match.group(1)}")
    assert len(ids) >= 15, ids  # the regex still finds them
    page = (DOCS / "reference" / "checks.rst").read_text()
    assert sorted(i for i in ids if f"``{i}``" not in page) == []


def test_every_setting_is_in_the_settings_reference():
    tree = ast.parse((PACKAGE / "conf.py").read_text())
    conf = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AppSettings"
    )
    names = [
        target.id if isinstance(target, ast.Name) else target.target.id
        for node in conf.body
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in ([node] if isinstance(node, ast.AnnAssign) else node.targets)
        if isinstance(target, ast.AnnAssign) or target.id.isupper()
    ]
    assert "SECONDS" in names
    page = (DOCS / "reference" / "settings.rst").read_text()
    missing = [n for n in names if f".. setting:: ASSIGNMENT_TIMEOUT_{n}\n" not in page]
    assert missing == []


def test_every_signal_is_in_the_signals_reference():
    source = (PACKAGE / "signals.py").read_text()
    signals = re.findall(r"^(\w+) = Signal\(\)", source, re.MULTILINE)
    assert "assignment_expired" in signals
    page = (DOCS / "reference" / "signals.rst").read_text()
    assert [s for s in signals if f"``{s}``" not in page] == []


def test_every_exported_name_is_in_the_reference():
    import django_assignment_timeout

    rst = _rst()
    names = [n for n in django_assignment_timeout.__all__ if n != "__version__"]
    assert [n for n in names if not re.search(rf"\b{n}\b", rst)] == []


@pytest.mark.parametrize("path", _modules(), ids=_dotted)
def test_public_names_have_docstrings_and_reference_entries(path):
    tree = ast.parse(path.read_text())
    module = _dotted(path)
    undocumented = [
        name
        for name, node in _public_definitions(tree)
        if ast.get_docstring(node) is None and not _is_hook_override(name, node)
    ]
    assert undocumented == [], f"{module}: public names without a docstring"
    if module.endswith((".apps", ".migrations")) or ".management." in module:
        return
    rst = _rst()
    if module in _documented_wholesale(rst):
        return
    top_level = [name for name, _ in _public_definitions(tree) if "." not in name]
    missing = [name for name in top_level if not re.search(rf"\b{name}\b", rst)]
    assert missing == [], f"{module}: public names missing from docs/"


def _is_hook_override(name: str, node: ast.AST) -> bool:
    """Django's own conventions stand in for a docstring.

    A management command describes itself in ``help``; hooks Django documents
    (``ModelAdmin.get_queryset``, ``Command.handle``, ``Func.as_mysql``...) say
    what they do by their name.
    """
    if isinstance(node, ast.ClassDef) and name == "Command":
        return any(
            isinstance(item, ast.Assign)
            and any(getattr(t, "id", None) == "help" for t in item.targets)
            for item in node.body
        )
    if name.rsplit(".", 1)[-1].startswith("as_"):
        return True
    django_hooks = {
        "add_arguments", "handle", "ready", "lookups", "queryset", "get_queryset",
        "get_list_display", "get_list_filter", "get_readonly_fields", "get_inlines",
        "get_actions", "formfield_for_dbfield", "has_add_permission",
        "has_change_permission", "has_delete_permission", "has_view_permission",
    }  # fmt: skip
    return name.rsplit(".", 1)[-1] in django_hooks


def _all_names(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(getattr(t, "id", None) == "__all__" for t in targets):
            return [ast.literal_eval(element) for element in node.value.elts]  # type: ignore[attr-defined]
    return None


@pytest.mark.parametrize("path", _modules(), ids=_dotted)
def test_public_modules_list_their_names_in_all(path):
    """The reference says public names are in each module's ``__all__``: all of them."""
    module = _dotted(path)
    tree = ast.parse(path.read_text())
    defined = [name for name, _ in _public_definitions(tree) if "." not in name]
    if ".management." in module or not defined:
        return  # commands are found by Django; shims and empty packages define nothing
    listed = _all_names(tree)
    assert listed is not None, f"{module} has no __all__"
    assert sorted(set(defined) - set(listed)) == [], f"{module}: missing from __all__"
    bound = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    } | {
        (alias.asname or alias.name).split(".")[0]
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert sorted(set(listed) - bound - set(defined)) == [], (
        f"{module}: __all__ names nothing"
    )

"""The code blocks of docs/ and the README, found by name, and what marks a fragment.

A block that a test runs carries a name: in reStructuredText the
``:name:`` option (``.. code-block:: python`` then ``   :name: celery-py``),
in the README an HTML comment on the line before its fence
(``<!-- block: quickstart-settings -->``). A test fetches it with
:func:`block` and runs it. A block no test can run (a sketch of a user's own
code, a shell transcript) says why just before it: ``.. fragment: <reason>``
in reStructuredText (a comment; leave a blank line after it, as docutils
wants), ``<!-- fragment: <reason> -->`` on the line before the README's fence.
A ``literalinclude`` block's text is what it shows of its file (cut by
``:start-after:`` / ``:end-before:``); ``:pyobject:`` is refused, because it
drops the imports a pasted block needs.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

_DIRECTIVE = re.compile(
    r"^(?P<indent> *)\.\. (?P<kind>code-block|literalinclude)::(?P<arg>.*)$"
)
_FRAGMENT_RST = re.compile(r"^ *\.\. fragment: *(?P<reason>\S.*)$")
_FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")
_NAME_MD = re.compile(r"^<!-- block: (?P<name>[\w-]+) -->$")
_FRAGMENT_MD = re.compile(r"^<!-- fragment: *(?P<reason>\S.*) -->$")


@dataclass(frozen=True)
class Block:
    """One code block: where it is, its name or fragment reason, its text."""

    path: Path
    line: int
    name: str
    fragment: str
    text: str
    #: The file a ``literalinclude`` shows (``text`` is what it shows of it).
    include: Path | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _rst_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found = []
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        options: dict[str, str] = {}
        body: list[str] = []
        cursor = index + 1
        while cursor < len(lines):
            option = re.match(rf"^ {{{indent + 1},}}:(\w[\w-]*):(.*)$", lines[cursor])
            if not option:
                break
            options[option[1]] = option[2].strip()
            cursor += 1
        while cursor < len(lines):
            text = lines[cursor]
            if text.strip() and len(text) - len(text.lstrip()) <= indent:
                break
            body.append(text)
            cursor += 1
        previous = next(
            (lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), ""
        )
        fragment = _FRAGMENT_RST.match(previous)
        include = None
        if match["kind"] == "literalinclude":
            include = (path.parent / match["arg"].strip()).resolve()
            body = _included(include, options).splitlines()
        found.append(
            Block(
                path,
                index + 1,
                options.get("name", ""),
                fragment["reason"] if fragment else "",
                textwrap.dedent("\n".join(body)).strip("\n") + "\n",
                include,
            )
        )
    return found


def _included(include: Path, options: dict[str, str]) -> str:
    """What a literalinclude shows: the file, cut as Sphinx cuts it.

    ``start-after`` keeps the lines after the first line containing it,
    ``end-before`` the lines before the first (later) line containing it.
    """
    assert "pyobject" not in options, (
        f"{include}: :pyobject: drops the imports, so the block fails when pasted"
    )
    lines = include.read_text().splitlines()
    if after := options.get("start-after"):
        lines = lines[next(i for i, s in enumerate(lines) if after in s) + 1 :]
    if before := options.get("end-before"):
        lines = lines[: next(i for i, s in enumerate(lines) if before in s)]
    return "\n".join(lines)


def _markdown_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found = []
    index = 0
    while index < len(lines):
        if not _FENCE.match(lines[index]):
            index += 1
            continue
        start = index
        index += 1
        body = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        previous = lines[start - 1] if start else ""
        name = _NAME_MD.match(previous)
        fragment = _FRAGMENT_MD.match(previous)
        found.append(
            Block(
                path,
                start + 1,
                name["name"] if name else "",
                fragment["reason"] if fragment else "",
                "\n".join(body) + "\n",
            )
        )
        index += 1
    return found


def all_blocks() -> list[Block]:
    """Every code block of docs/ (.rst) and of the README."""
    blocks = [b for path in sorted(DOCS.rglob("*.rst")) for b in _rst_blocks(path)]
    return blocks + _markdown_blocks(README)


def block(name: str) -> str:
    """The text of the block called ``name`` (exactly one must exist)."""
    matches = [b for b in all_blocks() if b.name == name]
    assert len(matches) == 1, f"{len(matches)} blocks are named {name!r}"
    return matches[0].text

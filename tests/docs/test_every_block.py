"""Every code block in docs/ and the README is run by a test, or says why not."""

from __future__ import annotations

from pathlib import Path

from tests.docs.blocks import ROOT, all_blocks

TESTS = ROOT / "tests"


def _test_sources() -> str:
    this = Path(__file__).resolve()
    return "\n".join(
        p.read_text() for p in sorted(TESTS.rglob("*.py")) if p.resolve() != this
    )


def test_the_reader_finds_the_blocks():
    blocks = all_blocks()
    assert len(blocks) >= 40
    assert any(b.path.name == "README.md" for b in blocks)
    assert any(b.include for b in blocks)


def test_every_block_is_run_by_a_test_or_marked_a_fragment_with_its_reason():
    sources = _test_sources()
    unaccounted = [
        b.where
        for b in all_blocks()
        if not b.fragment and not (b.name and f'"{b.name}"' in sources)
    ]
    assert unaccounted == []


def test_block_names_are_unique():
    names = [b.name for b in all_blocks() if b.name]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_a_fragment_says_why_in_words():
    """A reason is a sentence a reader can check, not a bare "skip" or "n/a"."""
    terse = [
        b.where for b in all_blocks() if b.fragment and len(b.fragment.split()) < 3
    ]
    assert terse == []

"""The code cites documents a reader of the repository can open: no file outside it, and
every `docs/…` it names exists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "store", "testing", "tests", "bench", "scripts")
# Spelled in pieces so this file does not match itself.
OUTSIDE = re.compile("shared" + "/|INTER" + r"FACE\b")
DOC = re.compile(r"\bdocs/[\w.-]+\.md\b")


def _texts() -> Iterator[tuple[Path, str]]:
    """Every text file of the scanned folders, with its contents."""
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # binary data, which cites nothing


def test_nothing_cites_a_file_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path, text in _texts()
        for number, line in enumerate(text.splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert found == [], "cite docs/ instead:\n" + "\n".join(found)


def test_every_cited_doc_exists() -> None:
    missing = sorted(
        f"{path.relative_to(ROOT)}: {doc}"
        for path, text in _texts()
        for doc in set(DOC.findall(text))
        if not (ROOT / doc).is_file()
    )
    assert missing == []

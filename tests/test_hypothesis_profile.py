"""A red property test can be replayed: CI draws the same examples every run,
and elsewhere the header names the run's seed, which draws the same examples again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRAWING = """
import os

from hypothesis import given, strategies as st


@given(st.integers(), st.text())
def test_draws(n, s):
    with open(os.environ["DRAWN"], "a", encoding="utf-8") as out:
        out.write(repr((n, s)) + "\\n")
"""


def _run(tmp_path: Path, run: str, *args: str, ci: bool) -> tuple[str, list[str]]:
    """pytest on a test that records what it draws, with this suite's conftest."""
    test = tmp_path / "test_drawing.py"
    test.write_text(DRAWING)
    drawn = tmp_path / f"{run}.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH")}
    env.update(PYTHONPATH=str(ROOT), DRAWN=str(drawn), **({"CI": "true"} if ci else {}))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", str(test), *args],
        cwd=tmp_path,  # its own .hypothesis example database, no pyproject addopts
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, drawn.read_text().splitlines()


def test_ci_draws_the_same_examples_every_run(tmp_path: Path) -> None:
    header, first = _run(tmp_path, "first", ci=True)
    _, second = _run(tmp_path, "second", ci=True)
    assert len(first) > 10 and first == second
    assert "derandomized" in header


def test_elsewhere_the_printed_seed_replays_the_run(tmp_path: Path) -> None:
    header, first = _run(tmp_path, "first", ci=False)
    found = re.search(r"--hypothesis-seed=(\d+)", header)
    assert found, header
    _, again = _run(tmp_path, "again", f"--hypothesis-seed={found[1]}", ci=False)
    assert len(first) > 10 and first == again

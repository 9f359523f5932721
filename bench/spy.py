"""Sampling a running server with py-spy (`pip install py-spy`), for the profilers.

A sample's category is named by its innermost frame that matches one of a profiler's
categories (walking the stack from the innermost frame outwards), else by `other`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

Categories = tuple[tuple[str, tuple[str, ...]], ...]


def categorise(stack: str, categories: Categories, other: str) -> str:
    for frame in reversed(stack.split(";")):
        for name, markers in categories:
            if any(marker in frame for marker in markers):
                return name
    return other


class Spy:
    """py-spy recording `pid` and its children (GIL holders only) until `stop`."""

    def __init__(self, pid: int, workdir: Path, *, rate: int = 250, settle: float = 0.0) -> None:
        self.out = Path(tempfile.mkstemp(suffix=".txt", dir=workdir)[1])
        spy = Path(sys.executable).with_name("py-spy")
        command = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
        command += ["--gil", "--rate", str(rate), "--output", str(self.out), "--nonblocking"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(settle)  # attached before the load starts

    def stop(self, categories: Categories, other: str) -> Counter[str]:
        """Samples per category."""
        self.proc.send_signal(2)  # SIGINT: py-spy writes what it has
        self.proc.wait(timeout=60)
        counts: Counter[str] = Counter()
        for line in self.out.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if stack and n.isdigit():
                counts[categorise(stack, categories, other)] += int(n)
        return counts

"""What the numbers were measured on: CPU, cores, memory, load, Python, SQLite, PostgreSQL."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def describe(postgres_version: str | None) -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": f"{_ram_gib():.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres_version or "not run",
        "load average at start (1/5/15 min)": load_average(),
    }


def family(pid: int) -> list[int]:
    """`pid` and its children (a gunicorn master and its workers)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            pids.append(int(entry.name))
    return pids


def _kib(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: int) -> float:
    """Memory of a process and its children: the sum of their proportional set sizes
    (/proc/<pid>/smaps_rollup Pss, pages shared after the fork counted once), else VmRSS."""
    total = 0
    for one in family(pid):
        kib = _kib(Path(f"/proc/{one}/smaps_rollup"), "Pss:")
        if kib is None:
            kib = _kib(Path(f"/proc/{one}/status"), "VmRSS:")
        total += kib or 0
    if not total:
        raise RuntimeError(f"no memory figures for process {pid}")
    return total / 1024


def rss_each_mb(pid: int) -> list[float]:
    """VmRSS of a process and of each of its children, in MB."""
    return [(_kib(Path(f"/proc/{p}/status"), "VmRSS:") or 0) / 1024 for p in family(pid)]


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process and its children (the workers) have used so
    far, from /proc/<pid>/stat."""
    total = 0
    for one in family(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS

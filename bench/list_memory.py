"""`python -m bench.list_memory`: the memory and CPU a reconcile list costs the process
that reads it (a `serve` worker's scheduler, or `simsid-bot reconcile`).

A CSV of minimal rows (`app,A,s<n>,S,,,no,,`, about 20 bytes each) is written once; each
run is a fresh Python process that imports the bot, holds the list's bytes (as a fetch
leaves them), notes its resident set, then does one step:

* parse: `snapshot.parse`, every row validated;
* compare: the parse, then the dry run's comparison against an empty SQLite store (the
  list into the temporary table, the two joins, every row a difference: an adoption);
* agree: the same against a store already holding the list (applied once beforehand,
  not measured), so nothing differs: the hourly run.

and reports its peak resident set (VmHWM) over the one before the step, and the step's
CPU seconds. Medians of `--repeat` runs are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, sys, time
from pathlib import Path

def kib(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise RuntimeError(key)

step, source, url = sys.argv[1:4]
from bot.reconcile import snapshot
from bot.reconcile.run import reconcile
from store.db import Database
from store.lifecycle import Lifecycle

db = None
if step != "parse":
    from store import migrate
    db = Database(url)
    migrate.upgrade(db)
data = Path(source).read_bytes()
if step == "seed":
    reconcile(db, Lifecycle(), snapshot.parse(data), apply=True, force=True)
    db.dispose()
    sys.exit(0)
before, cpu = kib("VmRSS:"), time.process_time()
error = None
try:
    rows = snapshot.parse(data)
    if db is not None:
        outcome = reconcile(db, Lifecycle(), rows)
        expected = 0 if step == "agree" else len(rows)
        assert len(outcome.comparison.differences) == expected
    listed = len(rows)
except snapshot.SnapshotError as exc:
    listed, error = 0, str(exc).splitlines()[0]
cpu = time.process_time() - cpu
print(json.dumps({"peak_mb": (kib("VmHWM:") - before) / 1024, "cpu_s": cpu, "rows": listed,
                  "error": error}))
"""


def write_list(path: Path, rows: int) -> int:
    """A CSV of `rows` minimal rows; its size in bytes."""
    from bot.reconcile.snapshot import HEADER

    with path.open("w", encoding="ascii", newline="") as out:
        out.write(HEADER + "\n")
        for n in range(rows):
            out.write(f"app,A,s{n},S,,,no,,\n")
    return path.stat().st_size


def measure(step: str, source: Path, workdir: Path, run: int) -> dict[str, object]:
    """One fresh process doing `step` on `source`."""
    store = workdir / f"store-{step}-{run}.db"
    if step == "agree":
        seed = workdir / "seed.db"
        if not seed.exists():
            _child("seed", source, seed)
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{seed}{suffix}").exists():
                shutil.copyfile(f"{seed}{suffix}", f"{store}{suffix}")
    result: dict[str, object] = json.loads(_child(step, source, store).splitlines()[-1])
    return result


def _child(step: str, source: Path, store: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, step, str(source), f"sqlite:///{store}"],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.list_memory", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", default="parse,compare,agree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="list-memory-") as tmp:
        workdir = Path(tmp)
        source = workdir / "list.csv"
        size = write_list(source, args.rows)
        print(f"{args.rows:,} rows, {size / 1e6:.1f} MB; medians of {args.repeat} runs\n")
        print("| step | peak RSS over the start, MB | CPU s | rows | refused |")
        print("|---|---|---|---|---|")
        for step in args.steps.split(","):
            runs = [measure(step, source, workdir, n) for n in range(args.repeat)]
            peak = statistics.median(float(r["peak_mb"]) for r in runs)  # type: ignore[arg-type]
            cpu = statistics.median(float(r["cpu_s"]) for r in runs)  # type: ignore[arg-type]
            error = runs[0]["error"] or "-"
            print(f"| {step} | {peak:.0f} | {cpu:.1f} | {runs[0]['rows']:,} | {error} |")


if __name__ == "__main__":
    main()

"""`python -m bench.decide_preview`: the preview of deciding from a list (store/decide.py)
at a big store: 5,000 identifiers (URNs and DfE numbers of one application's schools, a
few matching nothing, a few repeated) against `--size` installations.

The store is seeded in-process through the lifecycle's batch path (the events
`simsid-bot ingest` would import, bench/datagen.py), then the preview runs `--repeat`
times, each in its own read transaction; the median and the slowest are printed as a
Markdown row. SQLite by default; `--postgres URL` for an (emptied) PostgreSQL database.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench import datagen
from bench.stores import Backend, fresh_store
from bot.simsid.schema import parse_event
from store import decide, migrate, vault
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import Application

IDENTIFIERS = 5000


def seed(db: Database, size: int) -> None:
    """`size` installations: every site installs each of datagen's ten applications."""
    events = datagen.seed_events(size)
    lifecycle = Lifecycle()
    for start in range(0, len(events), 5000):
        batch = [parse_event(e) for e in events[start : start + 5000]]
        with db.session() as session:
            lifecycle.apply_events(session, batch, notify=False)


def identifiers(size: int) -> list[str]:
    """5,000 identifiers: URNs and DfE numbers of datagen's sites (every tenth in the other
    form), 1% matching nothing, 1% repeated."""
    sites = datagen.sites_for(size)
    step = max(1, sites // IDENTIFIERS)
    out: list[str] = []
    for n in range(0, sites, step):
        spec = datagen.site(n)
        out.append(spec.dfe_number if n % 10 == 0 else spec.urn)
        if len(out) == IDENTIFIERS - 100:
            break
    out += [f"9{n:06d}" for n in range(50)] + out[:50]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.decide_preview")
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database")
    args = parser.parse_args()
    vault.configure([vault.generate_key()])
    workdir = Path(tempfile.mkdtemp(prefix="bench-decide-"))
    backend = Backend("PostgreSQL", args.postgres) if args.postgres else Backend("SQLite", None)
    db = Database(fresh_store(backend, workdir, "decide"))
    migrate.upgrade(db)
    started = time.perf_counter()
    seed(db, args.size)
    print(f"seeded {args.size:,} installations in {time.perf_counter() - started:.0f}s")
    tokens = identifiers(args.size)
    app_id = datagen.APPS[0][0]
    seconds: list[float] = []
    for _ in range(args.repeat):
        with db.read() as session:
            app = session.get(Application, app_id)
            assert app is not None
            started = time.perf_counter()
            result = decide.preview(session, app, Action.APPROVE, tokens)
            seconds.append(time.perf_counter() - started)
    db.dispose()
    print(
        "| store | installations | identifiers | will approve | no match | duplicates "
        "| median (s) | slowest (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {backend.name} | {args.size:,} | {len(tokens):,} | {len(result.eligible):,} "
        f"| {len(result.unmatched):,} | {len(result.duplicates):,} "
        f"| {statistics.median(seconds):.3f} | {max(seconds):.3f} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

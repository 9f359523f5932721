"""W7: reconciling with SIMS ID's list, a list as large as the store, dry run and apply.

Each list is written from the store as it stands (after the other workloads), then
changed the way a real export differs from the bot, in two mixes:

* drift, the hourly case of a bot that missed a few events: 1 in 100 installations is
  missing (gone), 1 in 100 rows is new, 1 in 100 has its slider the other way (approved
  or disabled in SIMS ID), 1 in 100 carries a client key and secret (credentials differ);
* adoption, the first run against a bot filled by `ingest` (all pending): as drift for
  gone and new, but every other row is enabled in SIMS ID and every fourth row carries
  credentials, so three rows in four differ and 100,000 secrets are encrypted at 200,000.

`simsid-bot reconcile` runs as an operator runs it (a subprocess of the console script):
the dry run, the apply (`--force`: the 1 % of removals is over the default guard), and
the dry run again, which must find the two in agreement.
"""

from __future__ import annotations

import csv
import re
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bench import datagen
from bench.stores import Backend, run_cli
from bench.workloads import Bench, say
from bot.reconcile.snapshot import HEADER
from store.db import Database
from store.models import Application, Installation, Site, State

_SUMMARY = re.compile(r"^(\d+) differences? with ", re.MULTILINE)


def write_list(url: str, path: Path, mix: str) -> int:
    """SIMS ID's list for the store at `url`, with the `mix` of differences; its rows."""
    db = Database(url)
    try:
        with db.read() as session:
            rows = session.execute(
                select(
                    col(Installation.application_id),
                    col(Application.name),
                    col(Installation.site_id),
                    col(Site.name),
                    col(Installation.state),
                )
                .join(Application, col(Application.id) == col(Installation.application_id))
                .join(Site, col(Site.id) == col(Installation.site_id))
                .where(col(Installation.state) != State.REMOVED)
                .order_by(col(Installation.id))
            ).all()
    finally:
        db.dispose()
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER.split(","))
        for n, (app_id, app_name, site_id, site_name, state) in enumerate(rows):
            if n % 100 == 0:
                continue  # gone from SIMS ID
            on = state is State.ENABLED
            if mix == "adoption":
                on, keyed = n % 2 == 0, n % 4 == 0
            else:
                on, keyed = (not on if n % 100 == 1 else on), n % 100 == 2
            key, secret = (f"ck_{mix[0]}{n:023d}", secrets.token_urlsafe(32)) if keyed else ("", "")
            enabled = "yes" if on else "no"
            writer.writerow([app_id, app_name, site_id, site_name, "", "", enabled, key, secret])
            written += 1
        for n in range(len(rows) // 100):
            spec = datagen.site(n, prefix=f"{mix}-new")
            app_id, app_name = datagen.APPS[n % len(datagen.APPS)]
            writer.writerow(
                [app_id, app_name, spec.id, spec.name, spec.urn, spec.dfe_number, "no", "", ""]
            )
            written += 1
    return written


def reconcile(bench: Bench, backend: Backend, size: int, url: str) -> dict[str, Any]:
    """Both mixes, drift first: each run's seconds, the list's rows, the differences."""
    return {mix: _reconcile(bench, backend, size, url, mix) for mix in MIXES}


MIXES = ("drift", "adoption")


def _reconcile(bench: Bench, backend: Backend, size: int, url: str, mix: str) -> dict[str, Any]:
    label = f"{backend.name}-{size}-{mix}"
    path = bench.workdir / "data" / f"sims-id-list-{label}.csv"
    listed = write_list(url, path, mix)
    env = bench.env(url)
    log = bench.log(f"reconcile-{label}")
    say(f"{label}: simsid-bot reconcile {path.name} ({listed:,} rows)")
    dry = run_cli(env, "reconcile", str(path), log=log, expect=1)
    found = _SUMMARY.search(dry.stdout)
    if found is None:  # exit 1 is also what a crash looks like
        raise RuntimeError(f"{label}: the dry run printed no differences (log: {log})")
    differences = int(found.group(1))
    applied = run_cli(env, "reconcile", str(path), "--apply", "--force", log=log)
    again = run_cli(env, "reconcile", str(path), log=log)
    if "in agreement" not in again.stdout:
        raise RuntimeError(f"{label}: reconcile did not agree after --apply: {again.stdout[-300:]}")
    say(
        f"{label}: {differences:,} differences; dry run {dry.seconds:.1f}s "
        f"({dry.cpu_seconds:.1f}s CPU), apply {applied.seconds:.1f}s "
        f"({applied.cpu_seconds:.1f}s CPU), again {again.seconds:.1f}s"
    )
    return {
        "installs": size,
        "listed": listed,
        "differences": differences,
        "dry_s": dry.seconds,
        "apply_s": applied.seconds,
        "again_s": again.seconds,
        "dry_cpu_s": dry.cpu_seconds,
        "apply_cpu_s": applied.cpu_seconds,
        "again_cpu_s": again.cpu_seconds,
    }

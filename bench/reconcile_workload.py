"""W7: reconciling with SIMS ID's list, a list as large as the store, dry run and apply.

The list is written from the store as it stands after the other workloads, then changed
the way a real export differs from a bot that missed events: 1 in 100 installations is
missing (gone), 1 in 100 rows is an installation the bot never saw (new), every other
row is enabled in SIMS ID (approved, where the bot has it pending or disabled), and
every fourth row carries a client key and secret from the report (credentials differ).
`simsid-bot reconcile` runs as an operator runs it (a subprocess of the console script):
the dry run, the apply (`--force`: the 1 % of removals is over the default guard), and
the dry run again, which must find the two in agreement.
"""

from __future__ import annotations

import csv
import re
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bench import datagen
from bench.stores import REPO, Backend
from bench.workloads import Bench, say
from bot.simsid.snapshot import HEADER
from store.db import Database
from store.models import Application, Installation, Site, State
from tests.harness import bot_command

_SUMMARY = re.compile(r"^(\d+) differences? with ", re.MULTILINE)


def write_list(url: str, path: Path) -> int:
    """SIMS ID's list for the store at `url`, with the differences above; returns its rows."""
    db = Database(url)
    try:
        with db.read() as session:
            rows = session.execute(
                select(
                    col(Installation.application_id),
                    col(Application.name),
                    col(Installation.site_id),
                    col(Site.name),
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
        for n, (app_id, app_name, site_id, site_name) in enumerate(rows):
            if n % 100 == 0:
                continue  # gone from SIMS ID
            key = secret = ""
            if n % 4 == 0:
                key, secret = f"ck_{n:024d}", secrets.token_urlsafe(32)
            enabled = "yes" if n % 2 == 0 else "no"
            writer.writerow([app_id, app_name, site_id, site_name, "", "", enabled, key, secret])
            written += 1
        for n in range(len(rows) // 100):
            spec = datagen.site(n, prefix="recon")
            app_id, app_name = datagen.APPS[n % len(datagen.APPS)]
            writer.writerow(
                [app_id, app_name, spec.id, spec.name, spec.urn, spec.dfe_number, "no", "", ""]
            )
            written += 1
    return written


def _run(env: dict[str, str], log: Path, *args: str, expect: int) -> tuple[float, str]:
    started = time.perf_counter()
    with log.open("ab") as err:
        done = subprocess.run(
            [*bot_command(), "reconcile", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
            check=False,
        )
    elapsed = time.perf_counter() - started
    stdout = done.stdout.decode()
    if done.returncode != expect:
        raise RuntimeError(
            f"simsid-bot reconcile {' '.join(args)} exited {done.returncode}, not {expect}: "
            f"{stdout[-500:]} (log: {log})"
        )
    return elapsed, stdout


def reconcile(bench: Bench, backend: Backend, size: int, url: str) -> dict[str, Any]:
    """The three runs' seconds, the list's rows and how many differences the dry run found."""
    label = f"{backend.name}-{size}"
    path = bench.workdir / "data" / f"sims-id-list-{label}.csv"
    listed = write_list(url, path)
    env = bench.env(url)
    log = bench.log(f"reconcile-{label}")
    say(f"{label}: simsid-bot reconcile {path.name} ({listed:,} rows)")
    dry_s, dry_out = _run(env, log, str(path), expect=1)
    found = _SUMMARY.search(dry_out)
    differences = int(found.group(1)) if found else -1
    apply_s, _ = _run(env, log, str(path), "--apply", "--force", expect=0)
    again_s, again_out = _run(env, log, str(path), expect=0)
    if "in agreement" not in again_out:
        raise RuntimeError(f"{label}: reconcile did not agree after --apply: {again_out[-300:]}")
    say(
        f"{label}: {differences:,} differences; dry run {dry_s:.1f}s, "
        f"apply {apply_s:.1f}s, again {again_s:.1f}s"
    )
    return {
        "installs": size,
        "listed": listed,
        "differences": differences,
        "dry_s": dry_s,
        "apply_s": apply_s,
        "again_s": again_s,
    }

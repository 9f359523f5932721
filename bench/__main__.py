"""`python -m bench`: every workload, every size, SQLite and PostgreSQL; writes BENCHMARKS.md.

`python -m bench --quick` does every workload at a tiny size in under two minutes and
writes artifacts/BENCHMARKS.quick.md. It fails only if the benchmark itself breaks: a
missed target is reported, never an error.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shlex
import shutil
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import reconcile_workload, workloads
from bench.load import TimedFakeSlack, no_refusals
from bench.machine import describe
from bench.report import render
from bench.stores import REPO, Backend, LocalPostgres, postgres_version
from bench.workloads import Bench, Plan, say
from store import vault


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, under two minutes")
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=None,
        help="store sizes, comma-separated (default 2000,20000,200000; quick: 2000)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the repetitions (requests, events; never the sizes), e.g. 0.5",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--out", type=Path, default=None, help="where to write the report")
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="write the report again from the last run's saved results (after editing NOTES.md)",
    )
    return parser


def _postgres(quick: bool, notes: list[str]) -> tuple[str | None, LocalPostgres | None]:
    url = os.environ.get("BENCH_POSTGRES_URL")
    if url:
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix) :]
        return url, None
    cluster = LocalPostgres()
    try:
        say("starting PostgreSQL with scripts/start-test-postgres (port 55433)")
        return cluster.start(), cluster
    except Exception as exc:
        if not quick:
            raise
        message = f"PostgreSQL skipped: it could not be started ({exc})"
        print(message, file=sys.stderr)
        notes.append(message)
        return None, None


def nested() -> defaultdict[str, dict[Any, Any]]:
    return defaultdict(dict)


def _plain(results: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, defaultdict) else v for k, v in results.items()}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = Plan.make(args.quick, args.sizes, args.scale)
    command = "python -m bench" + (" --quick" if args.quick else "")
    if args.sizes:
        command += " --sizes " + ",".join(str(s) for s in args.sizes)
    if args.scale != 1.0:
        command += f" --scale {args.scale:g}"
    if args.no_postgres:
        command += " --no-postgres"
    out = args.out or (
        REPO / "artifacts" / "BENCHMARKS.quick.md" if args.quick else REPO / "BENCHMARKS.md"
    )
    workdir = REPO / ".bench" / ("quick" if args.quick else "full")
    saved = workdir / "results.pickle"
    if args.rerender:
        run = pickle.loads(saved.read_bytes())  # our own file, from the last run
        out.write_text(render(run.pop("results"), **run))
        say(f"wrote {out} from {saved}")
        return 0
    shutil.rmtree(workdir / "logs", ignore_errors=True)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    started_at = f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    notes: list[str] = []
    key = vault.generate_key()
    vault.configure([key])
    results: dict[str, Any] = {
        name: nested()
        for name in (
            "import",
            "import_baseline",
            "digest",
            "latency",
            "memory",
            "webhook",
            "reconcile",
        )
    }
    backends = [Backend("SQLite", None)]
    pg_url, cluster = (None, None) if args.no_postgres else _postgres(args.quick, notes)
    if args.no_postgres:
        notes.append("PostgreSQL not run (--no-postgres).")
    pg_version = None
    if pg_url:
        pg_version = postgres_version(pg_url)
        backends.append(Backend("PostgreSQL", pg_url))
    fake = TimedFakeSlack()
    fake.start()
    bench = Bench(fake=fake, key=key, workdir=workdir, plan=plan)
    try:
        for backend in backends:
            for size in plan.sizes:
                name = backend.name
                results["import_baseline"][name][size] = workloads.import_baseline(
                    bench, backend, size
                )
                url, imported = workloads.seed(bench, backend, size)
                results["import"][name][size] = imported
                results["digest"][name][size] = workloads.digest(bench, url)
                answers = workloads.answer_latency(bench, backend, size, url)
                results["latency"][name][size] = answers["latency"]
                results["memory"][name][size] = answers["memory"]
                results["webhook"][name][size] = workloads.webhook(bench, backend, size, url)
                # Last: it changes the store (approvals, removals) the others measured.
                results["reconcile"][name][size] = reconcile_workload.reconcile(
                    bench, backend, size, url
                )
        results["burst"] = workloads.burst(bench, backends[0])
    finally:
        fake.stop()
        if cluster is not None:
            cluster.stop()
    no_refusals(fake)
    run = {
        "results": _plain(results),
        "machine": describe(pg_version),
        "command": command,
        "quick": args.quick,
        "started": started_at,
        "elapsed_s": time.perf_counter() - started,
        "notes": notes,
    }
    saved.write_bytes(pickle.dumps(run))
    text = render(run.pop("results"), **run)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    say(f"wrote {out} ({shlex.quote(command)}, {(time.perf_counter() - started) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

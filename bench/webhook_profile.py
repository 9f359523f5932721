"""`python -m bench.webhook_profile`: the install webhook's server CPU per event (W2 alone).

Seeds a small store through `simsid-bot ingest`, serves it with `simsid-bot serve
--no-scheduler` (the bench's worker count), sends signed install events from 8 senders
as W2 does, and reports per run: events/s, the server's CPU per event while the senders
run (/proc, master and workers), the same once the delivery loop has also posted or
summarised every new install, this process's own CPU per event (the senders and the
Slack stand-in), and the load average. With `--py-spy` it samples the server while it
answers and sorts the samples by where the time goes. `--postgres URL` runs it on a
PostgreSQL database instead (its public schema is wiped).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import datagen, load, workloads
from bench.load import Outcome, Request, TimedFakeSlack
from bench.machine import cpu_seconds, load_average
from bench.spy import Spy
from bench.stores import Backend
from bench.workloads import Bench, Plan, say, serve_process
from store import queries, vault
from store.db import Database
from store.models import OutboxKind

CATEGORIES = (
    ("HTTP server (gunicorn)", ("gunicorn/",)),
    ("logging", ("logging/",)),
    ("validation (pydantic, schema)", ("pydantic", "bot/simsid/schema.py")),
    ("signature (hmac)", ("hmac.py", "bot/simsid/signing.py")),
    ("delivery loop (outbox, Slack client)", ("bot/background/", "slack_sdk/", "store/outbox")),
    ("store (SQLAlchemy, drivers, lifecycle)", ("sqlalchemy/", "sqlite3/", "psycopg/", "store/")),
    ("JSON", ("json/",)),
    ("threads and queues (hand-offs)", ("threading.py", "queue.py", "concurrent/")),
    ("webhook and router (bot/)", ("bot/",)),
)
OTHER = "other (Python runtime, sockets, imports)"


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _wait_delivered(url: str, timeout: float = 30.0) -> bool:
    """Until no install message waits in the outbox (posted or summarised)."""
    db = Database(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with db.read() as session:
                if queries.oldest_undelivered(session, OutboxKind.MESSAGE) is None:
                    return True
            time.sleep(0.1)
        return False
    finally:
        db.dispose()


def one_run(
    bench: Bench, url: str, label: str, events: int, senders: int, spy: bool
) -> dict[str, Any]:
    bodies = [
        json.dumps(e).encode()
        for e in datagen.new_installs(events, f"wp{label}", start=datetime.now(UTC))
    ]
    server = serve_process(bench, url, f"webhook-profile-{label}")
    try:
        client = bench.client(server.url)
        for one in datagen.new_installs(5, f"wpwarm{label}"):
            client.send_event(json.dumps(one).encode())
        _wait_delivered(url)
        pid = server.proc.pid

        def sender(body: bytes) -> Request:
            return lambda: Outcome(client.send_event(body).status == 202)

        sampler = Spy(pid, bench.workdir, rate=200, settle=1.0) if spy else None
        cpu0, own0 = cpu_seconds(pid), _own_cpu()
        summary = load.run([sender(b) for b in bodies], senders)
        cpu1, own1 = cpu_seconds(pid), _own_cpu()
        delivered = _wait_delivered(url)
        time.sleep(0.5)  # the loop's last pass after the outbox emptied
        cpu2 = cpu_seconds(pid)
        samples = sampler.stop(CATEGORIES, OTHER) if sampler else Counter()
    finally:
        if server.proc.poll() is None:
            server.terminate()
    return {
        "per_second": summary.per_second,
        "errors": summary.errors,
        "p50": summary.p50,
        "p99": summary.p99,
        "cpu_run": (cpu1 - cpu0) * 1000 / events,
        "cpu_all": (cpu2 - cpu0) * 1000 / events,
        "client_cpu": (own1 - own0) * 1000 / events,
        "delivered": delivered,
        "load": load_average(),
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_profile", description=__doc__)
    parser.add_argument("--size", type=int, default=2_000, help="installations seeded first")
    parser.add_argument("--events", type=int, default=3_000, help="events per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to wipe and use")
    parser.add_argument("--py-spy", action="store_true", help="sample the server with py-spy")
    parser.add_argument("--workdir", type=Path, default=Path(".bench/webhook-profile"))
    args = parser.parse_args(argv)
    (args.workdir / "logs").mkdir(parents=True, exist_ok=True)
    key = vault.generate_key()
    vault.configure([key])
    fake = TimedFakeSlack()
    fake.start()
    bench = Bench(fake=fake, key=key, workdir=args.workdir, plan=Plan.make(False, (args.size,)))
    backend = Backend("PostgreSQL", args.postgres) if args.postgres else Backend("SQLite", None)
    try:
        url, _ = workloads.seed(bench, backend, args.size)
        print(
            f"{backend.name}, {args.size:,} installations seeded, {args.events:,} events x "
            f"{args.runs} runs, {args.senders} senders, {workloads.WORKERS} workers"
        )
        print(
            "| run | events/s | server CPU ms/event (run) | with delivery | client CPU ms/event "
            "| p50 ms | p99 ms | errors | load 1/5/15 |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        results = []
        for run in range(args.runs):
            r = one_run(bench, url, f"{os.getpid()}-{run}", args.events, args.senders, args.py_spy)
            results.append(r)
            fake.forget()
            print(
                f"| {run + 1} | {r['per_second']:.0f} | {r['cpu_run']:.2f} | {r['cpu_all']:.2f} "
                f"| {r['client_cpu']:.2f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} "
                f"| {r['load']} |",
                flush=True,
            )
            if not r["delivered"]:
                say("the outbox did not empty within 30 s")
        med = {
            k: statistics.median(r[k] for r in results)
            for k in ("per_second", "cpu_run", "cpu_all", "client_cpu")
        }
        print(
            f"| median | {med['per_second']:.0f} | {med['cpu_run']:.2f} | {med['cpu_all']:.2f} "
            f"| {med['client_cpu']:.2f} | | | | |"
        )
        if args.py_spy:
            counts: Counter[str] = Counter()
            for r in results:
                counts.update(r["samples"])
            total = sum(counts.values()) or 1
            print(f"\nserver samples ({total}):")
            for name, n in counts.most_common():
                print(f"  {100 * n / total:5.1f} %  {name}")
    finally:
        fake.stop()
    load.no_refusals(fake)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

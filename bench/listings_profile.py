"""`python -m bench.listings_profile`: where a listing's server CPU goes, at one store size.

Seeds a SQLite store through `simsid-bot ingest` (or reuses one), serves it with
`simsid-bot serve --no-scheduler`, sends each listing (one user, signed as Slack signs)
and reports the server's CPU per request; with `--py-spy`, it also samples the server
with py-spy (`pip install py-spy`) while it answers and sorts the samples by where the
time goes. The full benchmark (`python -m bench`) stays the reference for latency.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path
from typing import Any

from bench import datagen, load, workloads
from bench.load import TimedFakeSlack
from bench.machine import rss_mb
from bench.spy import Spy
from bench.stores import Backend
from bench.workloads import Bench, Plan, say, serving
from bot.slack.ids import ActionId, encode_page
from store import vault

# Where a sample's time goes (bench/spy.py): the innermost frame matching one of these.
CATEGORIES = (
    ("Block Kit objects (slack_sdk.models)", ("slack_sdk/models/",)),
    ("views (bot/slack/views)", ("bot/slack/views/",)),
    ("SQL (SQLAlchemy, sqlite3, psycopg)", ("sqlalchemy/", "sqlite3/", "psycopg/", "store/")),
    ("JSON", ("json/",)),
    ("Bolt", ("slack_bolt/",)),
    ("HTTP server (waitress, gunicorn)", ("waitress/", "gunicorn/")),
    ("bot (listeners, slash, signing)", ("bot/",)),
    ("threads and queues (idle hand-offs)", ("threading.py", "queue.py", "concurrent/")),
)
OTHER = "other (Python runtime, logging, imports)"


def requests_for(bench: Bench, client: Any, url: str, size: int, n: int) -> dict[str, list[Any]]:
    rng = random.Random(1)
    apps = [a for a, _ in datagen.APPS]
    sites = [datagen.site(rng.randrange(datagen.sites_for(size))) for _ in range(n)]
    kinds: dict[str, list[Any]] = {
        # The floor: the same path with no database and a small fixed answer.
        "/simsid help (no database)": [
            workloads._slash(bench, client, "help", b"What") for _ in range(n)
        ],
        "/simsid customers": [
            workloads._slash(bench, client, "customers", b"My Customers") for _ in range(n)
        ],
        "/simsid apps": [
            workloads._slash(bench, client, "apps", b"My Applications") for _ in range(n)
        ],
        "/simsid app <app>": [
            workloads._slash(bench, client, f"app {rng.choice(apps)}", b"customers")
            for _ in range(n)
        ],
        "/simsid customer <site>": [
            workloads._slash(bench, client, f"customer {s.urn}", b"School") for s in sites
        ],
        "/simsid pending": [
            workloads._slash(bench, client, "pending", b"Waiting for approval") for _ in range(n)
        ],
    }
    last_app, last_customers = _last_pages(url, apps, datagen.sites_for(size))
    kinds["Next page: app, last page"] = [
        workloads._click(bench, client, ActionId.PAGE, last_app[rng.choice(apps)], wait=True)
        for _ in range(n)
    ]
    kinds["Next page: customers, last page"] = [
        workloads._click(bench, client, ActionId.PAGE, last_customers, wait=True) for _ in range(n)
    ]
    return kinds


def _last_pages(url: str, apps: list[str], sites: int) -> tuple[dict[str, str], str]:
    """Next buttons' values that open the last page of each listing."""
    finder = getattr(workloads, "_last_page_cursors", None)
    if finder is not None:
        per_app, customers = finder(url, apps)
        return (
            {a: encode_page("app", a, after=c) for a, c in per_app.items()},
            encode_page("customers", "", after=customers),
        )
    # Before keyset paging the values carried an offset.
    return (
        {a: encode_page("app", a, sites - 10) for a in apps},  # type: ignore[call-arg]
        encode_page("customers", "", sites - 20),  # type: ignore[call-arg]
    )


def _key_file(store: Path) -> Path:
    """Where the key a SQLite store was seeded with is kept, for `--store` to reuse."""
    return store.with_suffix(".key")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.listings_profile", description=__doc__)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--users", type=int, default=1, help="concurrent users (closed loop)")
    parser.add_argument("--store", type=Path, help="a seeded SQLite file to reuse")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="seed and serve this PostgreSQL database (wiped) instead of a SQLite file",
    )
    parser.add_argument("--py-spy", action="store_true", help="sample the server with py-spy")
    parser.add_argument("--workdir", type=Path, default=Path(".bench/profile"))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "logs").mkdir(exist_ok=True)
    key = vault.generate_key()
    if args.store:
        # The store keeps a canary encrypted with the key it was first served with.
        saved = _key_file(args.store)
        key = saved.read_text().strip() if saved.exists() else key
        saved.write_text(key)
    vault.configure([key])
    fake = TimedFakeSlack()
    fake.start()
    bench = Bench(fake=fake, key=key, workdir=args.workdir, plan=Plan.make(False, (args.size,)))
    try:
        if args.store:
            url = f"sqlite:///{args.store.resolve()}"
        elif args.postgres:
            url, _ = workloads.seed(bench, Backend("PostgreSQL", args.postgres), args.size)
        else:
            url, _ = workloads.seed(bench, Backend("SQLite", None), args.size)
            # So that `--store` can serve this file again (its canary needs this key).
            _key_file(Path(url.removeprefix("sqlite:///"))).write_text(key)
        with serving(bench, url, "profile") as server:
            client = bench.client(server.url)
            for _ in range(5):
                client.slash("customers", response_name=bench.name())
            print(f"{args.users} user(s)")
            print("| request | n | server CPU ms/req | p50 ms |")
            print("|---|---|---|---|")
            samples: dict[str, Counter[str]] = {}
            for kind, requests in requests_for(
                bench, client, url, args.size, args.requests
            ).items():
                spy = Spy(server.proc.pid, args.workdir) if args.py_spy else None
                summary = load.run(requests, args.users, server_pid=server.proc.pid)
                if spy is not None:
                    samples[kind] = spy.stop(CATEGORIES, OTHER)
                cpu = summary.extra.get("cpu_ms", float("nan"))
                print(f"| {kind} | {summary.n} | {cpu:.1f} | {summary.p50:.1f} |", flush=True)
                if summary.errors:
                    say(f"{kind}: {summary.errors} errors")
            print(f"\nmemory of serve after the run: {rss_mb(server.proc.pid):.1f} MB (Pss)")
            for kind, counts in samples.items():
                total = sum(counts.values()) or 1
                shares = ", ".join(
                    f"{name} {100 * n / total:.0f} %" for name, n in counts.most_common()
                )
                print(f"\n{kind} ({total} samples): {shares}")
    finally:
        fake.stop()
    load.no_refusals(fake)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The six workloads. Each takes a store URL and returns plain numbers for the report."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from bench import datagen, load
from bench.load import Outcome, Request, TimedFakeSlack
from bench.machine import rss_mb
from bench.stats import Summary
from bench.stores import REPO, Backend, fresh_store, run_cli
from bot.cli.importer import BATCH, read_lines
from bot.simsid.schema import parse_event
from bot.slack import views
from bot.slack.ids import ActionId, encode_installation, encode_page
from store import queries, vault
from store.db import Database
from store.lifecycle import InstallEvent, Lifecycle
from store.models import Installation, MessageStatus, ProcessedEvent, Site, State
from store.queries import Cursor
from store.queries.joined import SITE_KEY
from tests.harness import CHANNEL, Client, ServerProcess, server_env

TZ = ZoneInfo("Europe/London")
# The baseline app in Bolt's process_before_response mode (see bench/baseline_app.py).
PBR = "baseline (process_before_response)"


@dataclass
class Plan:
    """How much of each workload to do: the full run or the quick one."""

    quick: bool
    sizes: tuple[int, ...]
    requests_c1: int
    requests_c16: int
    webhook_events: int
    burst_installs: int
    burst_seconds: float
    digest_repeats: int
    import_baseline_rows: int
    burst_grace: float  # how long after the last install to wait for its delivery

    @classmethod
    def make(cls, quick: bool, sizes: tuple[int, ...] | None = None, scale: float = 1.0) -> Plan:
        """The plan; `scale` multiplies the repetitions (requests, events), never the sizes."""
        if quick:
            plan = cls(True, sizes or (2_000,), 10, 32, 500, 100, 1.0, 3, 500, 8.0)
        else:
            plan = cls(
                False,
                sizes or (2_000, 20_000, 200_000),
                150,
                480,
                10_000,
                1_000,
                10.0,
                15,
                5_000,
                90.0,
            )
        if scale != 1.0:
            plan.requests_c1 = max(10, round(plan.requests_c1 * scale))
            plan.requests_c16 = max(32, round(plan.requests_c16 * scale))
            plan.webhook_events = max(500, round(plan.webhook_events * scale))
            plan.digest_repeats = max(3, round(plan.digest_repeats * scale))
            plan.import_baseline_rows = max(500, round(plan.import_baseline_rows * scale))
        return plan


@dataclass
class Bench:
    """What every workload shares: the Slack stand-in, the key, where files and logs go."""

    fake: TimedFakeSlack
    key: str
    workdir: Path
    plan: Plan
    names: Iterator[int] = field(default_factory=itertools.count)

    def env(self, url: str, **extra: str) -> dict[str, str]:
        return server_env(self.fake.api_url, url, self.key, **extra)

    @property
    def response_base(self) -> str:
        return self.fake.response_url("bench").rsplit("/", 1)[0]

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def client(self, url: str) -> Client:
        return Client(url, self.response_base)

    def name(self) -> str:
        return f"b{next(self.names)}"


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- processes -------------------------------------------------------------------


# Worker processes of `serve` and of the baseline app alike: serve's default on this machine.
WORKERS = os.cpu_count() or 1


class BaselineProcess(ServerProcess):
    """`python -m bench.baseline_app` instead of `simsid-bot serve`; same start-up handshake."""

    def __init__(
        self, env: dict[str, str], *, log_path: Path, process_before_response: bool = False
    ) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115  (closed by terminate)
        command = [sys.executable, "-m", "bench.baseline_app", "--port", "0"]
        command += ["--workers", str(WORKERS)]
        if process_before_response:
            command.append("--process-before-response")
        self.proc = subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self.url = self._wait_for_url()


def serve_process(bench: Bench, url: str, label: str) -> ServerProcess:
    """`simsid-bot serve --no-scheduler --workers WORKERS` (the Procfile's web process)."""
    return ServerProcess(
        bench.env(url), "--no-scheduler", "--workers", str(WORKERS), log_path=bench.log(label)
    )


@contextmanager
def serving(bench: Bench, url: str, label: str) -> Iterator[ServerProcess]:
    """`serve_process` on the store at `url`, stopped with SIGTERM afterwards."""
    server = serve_process(bench, url, label)
    try:
        if bench.client(server.url).health().status != 200:
            raise RuntimeError(f"{label}: /healthz is not 200")
        yield server
    finally:
        if server.proc.poll() is None:
            try:
                code = server.terminate()
            except subprocess.TimeoutExpired:
                # Slow to stop on a loaded machine is a timing, not a broken benchmark.
                say(f"{label}: serve took over 15 s to stop on SIGTERM; killed")
            else:
                if code != 0:
                    raise RuntimeError(f"{label}: serve exited {code} on SIGTERM (see its log)")


def count_statements(db: Database) -> Callable[[], int]:
    """Counts statements sent to the database from now on (SQLAlchemy before_cursor_execute)."""
    seen = [0]

    def before(*_args: Any) -> None:
        seen[0] += 1

    sa_event.listen(db.engine, "before_cursor_execute", before)
    return lambda: seen[0]


# -- W3: bulk import, which is also how every store is seeded --------------------


def seed(bench: Bench, backend: Backend, size: int) -> tuple[str, dict[str, float]]:
    """A store of `size` installations, imported by `simsid-bot ingest FILE`; its cost."""
    file = datagen.write_seed_file(bench.workdir / "data" / f"seed-{size}.jsonl", size)
    url = fresh_store(backend, bench.workdir, f"store-{size}")
    env = bench.env(url)
    label = f"{backend.name}-{size}"
    migrate_s = 0.0
    if not backend.is_sqlite:
        migrate_s = run_cli(env, "db", "upgrade", log=bench.log(f"migrate-{label}")).seconds
    say(f"{label}: simsid-bot ingest {file.name} ({size:,} lines)")
    seconds = run_cli(env, "ingest", str(file), log=bench.log(f"ingest-{label}")).seconds
    db = Database(url)
    try:
        with db.read() as session:
            stored = session.scalar(select(func.count()).select_from(Installation)) or 0
    finally:
        db.dispose()
    if stored != size:
        raise RuntimeError(f"{label}: ingest stored {stored} installations, expected {size}")
    say(f"{label}: imported in {seconds:.1f}s ({size / seconds:,.0f} rows/s)")
    rate = size / seconds
    return url, {"rows": size, "seconds": seconds, "rows_per_s": rate, "migrate_s": migrate_s}


def import_baseline(bench: Bench, backend: Backend, size: int) -> dict[str, float]:
    """The per-event path (Lifecycle.apply_event, batches of 500 in one transaction each),
    in this process, on the first rows of the same file into an empty store."""
    rows = min(size, bench.plan.import_baseline_rows)
    file = datagen.write_seed_file(bench.workdir / "data" / f"seed-{size}.jsonl", size)
    with file.open(encoding="utf-8") as stream:
        events = [
            parse_event(raw.encode() if isinstance(raw, str) else raw)  # type: ignore[arg-type]
            for _, raw in itertools.islice(read_lines(stream, is_csv=False), rows)
        ]
    url = fresh_store(backend, bench.workdir, f"import-baseline-{size}")
    run_cli(bench.env(url), "db", "upgrade", log=bench.log("import-baseline"))
    db = Database(url)
    lifecycle = Lifecycle(default_channel=CHANNEL)
    try:
        started = time.perf_counter()
        for at in range(0, len(events), BATCH):
            with db.session() as session:
                for one in events[at : at + BATCH]:
                    lifecycle.apply_event(session, one, notify=False)
        seconds = time.perf_counter() - started
    finally:
        db.dispose()
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


# -- W5: the digest ---------------------------------------------------------------


def digest(bench: Bench, url: str) -> dict[str, float]:
    """Build the digest as the delivery loop does; time, statements and blocks."""
    db = Database(url)
    statements = count_statements(db)
    times: list[float] = []
    counts: list[int] = []
    blocks = 0
    pending_total = 0
    try:
        for _ in range(bench.plan.digest_repeats):
            before = statements()
            started = time.perf_counter()
            with db.read() as session:
                per_app = queries.pending_counts(session)
                oldest = queries.pending(session, limit=5).items
            message = views.digest(per_app, list(oldest), TZ, datetime.now(UTC))
            times.append(time.perf_counter() - started)
            counts.append(statements() - before)
            blocks = len(message.blocks)
            pending_total = sum(c.count for c in per_app)
    finally:
        db.dispose()
    ms = sorted(t * 1000 for t in times)
    return {
        "pending": pending_total,
        "p50_ms": statistics.median(ms),
        "max_ms": ms[-1],
        "statements": max(counts),
        "blocks": blocks,
        "repeats": len(ms),
    }


# -- W1 and W6: answer latency, and memory -----------------------------------------


def _slash(bench: Bench, client: Client, text: str, expect: bytes) -> Request:
    def send() -> Outcome:
        answer = client.slash(text, response_name=bench.name())
        ok = answer.status == 200 and (expect in answer.body or b"Working on it" in answer.body)
        return Outcome(ok, deferred=b"Working on it" in answer.body)

    return send


def _click(bench: Bench, client: Client, action: str, value: str, *, wait: bool) -> Request:
    def send() -> Outcome:
        name = bench.name()
        done = bench.fake.expect(name) if wait else None
        answer = client.click(action, value, ephemeral=True, response_name=name)
        return Outcome(answer.status == 200, done)

    return send


def _installs(url: str, where: Any, *, order_by_id: bool = True) -> list[tuple[int, int]]:
    db = Database(url)
    try:
        with db.read() as session:
            query = select(Installation.id, Installation.version).where(where)
            return [(int(i), int(v)) for i, v in session.execute(query.order_by(Installation.id))]
    finally:
        db.dispose()


def _last_page_cursors(url: str, app_ids: list[str]) -> tuple[dict[str, Cursor], Cursor]:
    """The cursors Next carries to the last page of each application's customers
    (`/simsid app`, 10 a page) and of `/simsid customers` (20 a page): the item just
    before that page, found once here by reading the order backwards."""

    def before_last(query: Any, page_size: int) -> Cursor:
        backwards = query.order_by(SITE_KEY.desc(), Site.id.desc()).offset(page_size).limit(1)  # type: ignore[attr-defined]
        site_id, key = session.execute(backwards).one()
        return (key, site_id)

    db = Database(url)
    try:
        with db.read() as session:
            sites = select(Site.id, SITE_KEY)
            per_app = {
                app_id: before_last(
                    sites.where(
                        select(Installation.id)
                        .where(
                            Installation.site_id == Site.id, Installation.application_id == app_id
                        )
                        .exists()
                    ),
                    10,
                )
                for app_id in app_ids
            }
            return per_app, before_last(sites, 20)
    finally:
        db.dispose()


def _states(url: str, ids: list[int]) -> dict[str, int]:
    db = Database(url)
    try:
        with db.read() as session:
            found: dict[str, int] = {}
            for chunk in range(0, len(ids), 500):
                rows = session.execute(
                    select(Installation.state, func.count())
                    .where(Installation.id.in_(ids[chunk : chunk + 500]))  # type: ignore[union-attr]
                    .group_by(Installation.state)
                )
                for state, n in rows:
                    found[str(state)] = found.get(str(state), 0) + int(n)
            return found
    finally:
        db.dispose()


def _pick_sites(size: int, count: int, rng: random.Random) -> list[str]:
    """Ways a person names a customer: its id, URN, DfE number or name."""
    texts = []
    for _ in range(count):
        spec = datagen.site(rng.randrange(datagen.sites_for(size)))
        texts.append(rng.choice([spec.id, spec.urn, spec.dfe_number, json.dumps(spec.name)]))
    return texts


def _pick_apps(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(how it is typed, app id): an application's id, slug, name or lower-case name."""
    out = []
    for _ in range(count):
        app_id, name = rng.choice(datagen.APPS)
        slug = name.lower().replace(" ", "-")
        out.append((rng.choice([app_id, slug, name, name.lower()]), app_id))
    return out


def answer_latency(bench: Bench, backend: Backend, size: int, url: str) -> dict[str, Any]:
    """W1 (1 and 16 users, each request kind) and W6 (RSS idle and after), one store."""
    plan = bench.plan
    rng = random.Random(size)
    label = f"{backend.name}-{size}"
    base_env = bench.env(url)
    results: dict[str, Any] = {"latency": {}, "memory": {}}
    baseline = BaselineProcess(base_env, log_path=bench.log(f"baseline-{label}"))
    direct = BaselineProcess(
        base_env, log_path=bench.log(f"baseline-pbr-{label}"), process_before_response=True
    )
    try:
        with serving(bench, url, f"serve-{label}") as server:
            time.sleep(1.0)
            results["memory"]["idle_mb"] = rss_mb(server.proc.pid)
            bot = bench.client(server.url)
            base = bench.client(baseline.url)
            base_pbr = bench.client(direct.url)
            pid = server.proc.pid
            pending = _installs(url, Installation.state == State.PENDING)
            rng.shuffle(pending)
            last_app_page, last_customers_page = _last_page_cursors(
                url, [a for a, _ in datagen.APPS]
            )
            # Warm both servers up (imports, first auth.test, caches) before measuring.
            for client in (bot, base, base_pbr):
                for _ in range(5):
                    client.slash("customers", response_name=bench.name())
            taken = 0
            for users, n in ((1, plan.requests_c1), (16, plan.requests_c16)):
                say(f"{label}: answer latency, {users} user(s), {n} requests per kind")
                runs: dict[str, Summary] = {}
                runs["baseline: slash command"] = load.run(
                    [_slash(bench, base, "customers", b"ok") for _ in range(n)],
                    users,
                    server_pid=baseline.proc.pid,
                )
                runs["baseline: button click"] = load.run(
                    [_click(bench, base, ActionId.APPROVE, "1:1", wait=False) for _ in range(n)],
                    users,
                    server_pid=baseline.proc.pid,
                )
                runs[f"{PBR}: slash command"] = load.run(
                    [_slash(bench, base_pbr, "customers", b"ok") for _ in range(n)],
                    users,
                    server_pid=direct.proc.pid,
                )
                runs[f"{PBR}: button click"] = load.run(
                    [
                        _click(bench, base_pbr, ActionId.APPROVE, "1:1", wait=False)
                        for _ in range(n)
                    ],
                    users,
                    server_pid=direct.proc.pid,
                )
                runs["/simsid customers"] = load.run(
                    [_slash(bench, bot, "customers", b"My Customers") for _ in range(n)],
                    users,
                    server_pid=pid,
                )
                runs["/simsid apps"] = load.run(
                    [_slash(bench, bot, "apps", b"My Applications") for _ in range(n)],
                    users,
                    server_pid=pid,
                )
                runs["/simsid app <app>"] = load.run(
                    [
                        _slash(bench, bot, f"app {typed}", b"customers")
                        for typed, _ in _pick_apps(n, rng)
                    ],
                    users,
                    server_pid=pid,
                )
                runs["/simsid customer <site>"] = load.run(
                    [
                        _slash(bench, bot, f"customer {typed}", b"Homework Hub")
                        for typed in _pick_sites(size, n, rng)
                    ],
                    users,
                    server_pid=pid,
                )
                runs["/simsid pending"] = load.run(
                    [_slash(bench, bot, "pending", b"Waiting for approval") for _ in range(n)],
                    users,
                    server_pid=pid,
                )
                chosen = pending[taken : taken + n]
                taken += n
                runs["Approve click"] = load.run(
                    [
                        _click(bench, bot, ActionId.APPROVE, encode_installation(i, v), wait=True)
                        for i, v in chosen
                    ],
                    users,
                    server_pid=pid,
                )
                ids = [i for i, _ in chosen]
                approved = _states(url, ids).get(State.ENABLED, 0)
                runs["Approve click"].errors += len(chosen) - approved
                enabled = [
                    (i, v)
                    for i, v in _installs(url, Installation.state == State.ENABLED)
                    if i in set(ids)
                ]
                # Disable now asks why in a form (views.open): the click's work is opening
                # it, after the ack; nothing changes until the form is submitted.
                runs["Disable click"] = load.run(
                    [
                        _click(bench, bot, ActionId.DISABLE, encode_installation(i, v), wait=False)
                        for i, v in enabled
                    ],
                    users,
                    server_pid=pid,
                )
                app_ids = [a for a, _ in datagen.APPS]
                runs["Next page: app, last page"] = load.run(
                    [
                        _click(
                            bench,
                            bot,
                            ActionId.PAGE,
                            encode_page(
                                "app", (app := rng.choice(app_ids)), after=last_app_page[app]
                            ),
                            wait=True,
                        )
                        for _ in range(n)
                    ],
                    users,
                    server_pid=pid,
                )
                runs["Next page: customers, last page"] = load.run(
                    [
                        _click(
                            bench,
                            bot,
                            ActionId.PAGE,
                            encode_page("customers", "", after=last_customers_page),
                            wait=True,
                        )
                        for _ in range(n)
                    ],
                    users,
                    server_pid=pid,
                )
                results["latency"][users] = runs
                bench.fake.forget()
            results["memory"]["after_mb"] = rss_mb(server.proc.pid)
    finally:
        for process in (baseline, direct):
            with contextlib.suppress(subprocess.TimeoutExpired):  # killed if slow to stop
                process.terminate()
    return results


# -- W2: the install webhook --------------------------------------------------------


def webhook(bench: Bench, backend: Backend, size: int, url: str) -> dict[str, Any]:
    """W2: signed install events at concurrency 8; then SIGKILL and count what is stored."""
    label = f"{backend.name}-{size}"
    count = bench.plan.webhook_events
    bodies = [
        json.dumps(e).encode()
        for e in datagen.new_installs(count, f"wh{size}", start=datetime.now(UTC))
    ]
    say(f"{label}: webhook, {count:,} events at concurrency 8")
    server = serve_process(bench, url, f"webhook-{label}")
    try:
        client = bench.client(server.url)
        warm = datagen.new_installs(5, f"whwarm{size}")
        for one in warm:
            client.send_event(json.dumps(one).encode())
        accepted = [0]
        lock = threading.Lock()

        def sender(body: bytes) -> Request:
            def send() -> Outcome:
                answer = client.send_event(body)
                if answer.status == 202:
                    with lock:
                        accepted[0] += 1
                return Outcome(answer.status == 202)

            return send

        summary = load.run([sender(b) for b in bodies], 8, server_pid=server.proc.pid)
        # Nothing may be lost even if the process dies the moment it has answered.
        server.kill()
    finally:
        if server.proc.poll() is None:
            server.kill()
        server.terminate()  # after a kill: only closes its pipes and log
    db = Database(url)
    try:
        with db.read() as session:
            durable = session.scalar(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(ProcessedEvent.id.like(f"evt-wh{size}-%"))  # type: ignore[attr-defined]
            )
            installed = session.scalar(
                select(func.count())
                .select_from(Installation)
                .where(Installation.site_id.like(f"wh{size}-%"))  # type: ignore[attr-defined]
            )
    finally:
        db.dispose()
    say(f"{label}: webhook {summary.per_second:,.0f} events/s; {durable} durable after SIGKILL")
    return {
        "events": count,
        "accepted": accepted[0],
        "durable_after_kill": int(durable or 0),
        "installations": int(installed or 0),
        "summary": summary,
        "baseline": webhook_baseline(bench, url, size, count),
    }


def webhook_baseline(bench: Bench, url: str, size: int, count: int) -> dict[str, float]:
    """The same kind of rows, applied directly with Lifecycle.apply_event in this process:
    one event per transaction, as the webhook does, but no HTTP and no concurrency."""
    events: list[InstallEvent] = [
        parse_event(e) for e in datagen.new_installs(count, f"wb{size}", start=datetime.now(UTC))
    ]
    db = Database(url)
    lifecycle = Lifecycle(default_channel=CHANNEL)
    try:
        started = time.perf_counter()
        for one in events:
            with db.session() as session:
                lifecycle.apply_event(session, one, notify=True)
        seconds = time.perf_counter() - started
    finally:
        db.dispose()
    return {"events": count, "seconds": seconds, "per_second": count / seconds}


# -- W4: a burst of installs against Slack's per-channel rate limit --------------------


def burst(bench: Bench, backend: Backend) -> dict[str, Any]:
    """W4: installs arriving at a steady rate into an empty store, Slack allowing 1 msg/s."""
    plan = bench.plan
    count, seconds = plan.burst_installs, plan.burst_seconds
    url = fresh_store(backend, bench.workdir, "burst")
    run_cli(bench.env(url), "db", "upgrade", log=bench.log("burst-migrate"))
    bodies = [json.dumps(e).encode() for e in datagen.new_installs(count, "burst")]
    fake = bench.fake
    say(f"burst: {count:,} installs in {seconds:.0f}s, Slack allowing 1 message/s per channel")
    with serving(bench, url, "serve-burst") as server:
        client = bench.client(server.url)
        fake.forget()
        fake.enforce_channel_rate(1.0)
        limited_before = fake.rate_limited_count
        db = Database(url)
        try:
            started = time.perf_counter()
            statuses: list[int] = []
            lock = threading.Lock()

            def send(index: int) -> None:
                due = started + index * seconds / count
                time.sleep(max(0.0, due - time.perf_counter()))
                answer = client.send_event(bodies[index])
                with lock:
                    statuses.append(answer.status)

            slots = iter(range(count))
            slot_lock = threading.Lock()

            def sender() -> None:
                while True:
                    with slot_lock:
                        index = next(slots, None)
                    if index is None:
                        return
                    send(index)

            senders = [threading.Thread(target=sender, daemon=True) for _ in range(8)]
            for thread in senders:
                thread.start()
            visible_at = covered_at = None
            deadline = started + seconds + plan.burst_grace
            while time.perf_counter() < deadline and (visible_at is None or covered_at is None):
                time.sleep(0.1)
                with db.read() as session:
                    burst_rows = (
                        select(func.count())
                        .select_from(Installation)
                        .where(
                            Installation.site_id.like("burst-%"),  # type: ignore[attr-defined]
                            Installation.state == State.PENDING,
                        )
                    )
                    pending = session.scalar(burst_rows) or 0
                    covered = (
                        session.scalar(
                            burst_rows.where(
                                Installation.message_status.in_(  # type: ignore[attr-defined]
                                    [MessageStatus.POSTED, MessageStatus.SUMMARISED]
                                )
                            )
                        )
                        or 0
                    )
                now = time.perf_counter() - started
                if visible_at is None and pending >= count:
                    visible_at = now
                if covered_at is None and covered >= count:
                    covered_at = now
            for thread in senders:
                thread.join()
            sent_for = time.perf_counter() - started
            listed, listing_s = _list_all_pending(bench, client, count)
        finally:
            db.dispose()
            fake.enforce_channel_rate(None)
        posts = [m for m in fake.channel_messages(CHANNEL)]
        summaries = [m for m in posts if "more installs of" in m["text"]]
        # One summary per wave lists each application it covers ("• *Homework Hub*: 12"):
        # how many summaries named each application.
        covered_apps = Counter(
            name
            for m in summaries
            for name in set(
                re.findall(r"• \*(.+?)\*: [\d,]+", json.dumps(m["blocks"], ensure_ascii=False))
            )
        )
        limited = fake.rate_limited_count - limited_before
        fake.forget()
    say(f"burst: all visible after {visible_at}s, all posted or summarised after {covered_at}s")
    return {
        "installs": count,
        "seconds": seconds,
        "grace_s": plan.burst_grace,
        "accepted": sum(1 for s in statuses if s == 202),
        "send_s": sent_for,
        "messages": len(posts),
        "install_messages": len(posts) - len(summaries),
        "summary_messages": len(summaries),
        "summary_apps": len(covered_apps),
        "most_repeated_summary": max(covered_apps.values(), default=0),
        "rate_limited": limited,
        "visible_s": visible_at,
        "covered_s": covered_at,
        "listed": listed,
        "listing_s": listing_s,
    }


def _list_all_pending(bench: Bench, client: Client, expected: int) -> tuple[int, float]:
    """Page through `/simsid pending` as a person would; how many distinct installs it lists."""
    started = time.perf_counter()
    seen: set[str] = set()
    answer = client.slash("pending", response_name=bench.name()).json()
    page: dict[str, Any] | None = answer
    while page is not None:
        next_value = None
        for block in page.get("blocks", []):
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == ActionId.APPROVE:
                    seen.add(str(element.get("value", "")).split(":")[0])
                if element.get("action_id") == ActionId.PAGE:
                    next_value = element.get("value")
        page = None
        if next_value is not None and len(seen) < expected + 1000:
            name = bench.name()
            done = bench.fake.expect(name)
            client.click(ActionId.PAGE, next_value, ephemeral=True, response_name=name)
            if not done.wait(load.DONE_TIMEOUT):
                break
            with bench.fake.lock:
                page = next(body for n, body in reversed(bench.fake.responses) if n == name)
    return len(seen), time.perf_counter() - started


def configure_vault(key: str) -> None:
    vault.configure([key])

"""BENCHMARKS.md from one run's results: machine, targets, every table, how to reproduce."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.stats import Summary, fmt, ratio

NOTES = Path(__file__).with_name("NOTES.md")

P99_TARGET_MS = 250.0
P50_RATIO_TARGET = 2.0
WEBHOOK_TARGET = {"SQLite": 500.0, "PostgreSQL": 300.0}
CPU_TARGET_MS = 3.0
IMPORT_TARGET = 5000.0
RSS_TARGET_MB = 200.0
RECONCILE_TARGET_S = 30.0


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("**met**" if ok else "**missed**")


# The requests the targets are about; the others are there to find the limits.
TARGET_KINDS = (
    "/simsid customers",
    "/simsid app <app>",
    "/simsid customer <site>",
    "/simsid pending",
    "Approve click",
    "Disable click",
)


# Listings: what the CPU target is about.
LISTING_KINDS = (
    "/simsid customers",
    "/simsid apps",
    "/simsid app <app>",
    "/simsid customer <site>",
    "/simsid pending",
)
PBR = "baseline (process_before_response)"


def _baseline_for(kind: str, runs: dict[str, Summary], *, pbr: bool = False) -> Summary:
    """The baseline run a request is compared with: its slash command or its button
    click, in Bolt's default mode or (pbr) in process_before_response mode."""
    button = "click" in kind.lower() or "page" in kind.lower()
    name = f"{PBR if pbr else 'baseline'}: {'button click' if button else 'slash command'}"
    # Results saved before the process_before_response baseline existed lack it.
    return runs.get(name) or runs["baseline: button click" if button else "baseline: slash command"]


def targets(results: dict[str, Any]) -> list[str]:
    rows: list[list[str]] = []
    for backend, sizes in results["latency"].items():
        largest = max(sizes)
        at16 = sizes[largest][16]
        bot = {k: s for k, s in at16.items() if k in TARGET_KINDS}
        worst_kind, worst = max(bot.items(), key=lambda kv: kv[1].p99)
        rows.append(
            [
                f"W1 p99 at 16 users, {largest:,} installs ({backend})",
                f"< {P99_TARGET_MS:.0f} ms",
                f"worst {fmt(worst.p99)} ms ({worst_kind})",
                _met(worst.p99 < P99_TARGET_MS),
            ]
        )
        # At 16 users against Bolt's default mode; at 1 user against process_before_response.
        for users, pbr in ((16, False), (1, True)):
            runs = sizes[largest][users]
            ratios = {
                k: ratio(s.p50, _baseline_for(k, runs, pbr=pbr).p50)
                for k, s in runs.items()
                if k in TARGET_KINDS
            }
            kind, worst_ratio = max(ratios.items(), key=lambda kv: kv[1])
            mode = "process_before_response" if pbr else "Bolt's default mode"
            rows.append(
                [
                    f"W1 p50 vs baseline ({mode}), {users} user(s), {largest:,} installs "
                    f"({backend})",
                    f"≤ {P50_RATIO_TARGET:.0f}x",
                    f"worst {fmt(worst_ratio, 2)}x ({kind})",
                    _met(worst_ratio <= P50_RATIO_TARGET),
                ]
            )
        cpu = {k: s.extra.get("cpu_ms", math.nan) for k, s in sizes[largest][1].items()}
        listing_cpu = {k: v for k, v in cpu.items() if k in LISTING_KINDS}
        if listing_cpu:
            kind, worst_cpu = max(listing_cpu.items(), key=lambda kv: kv[1])
            rows.append(
                [
                    f"Server CPU per listing, 1 user, {largest:,} installs ({backend})",
                    f"≤ {CPU_TARGET_MS:.0f} ms",
                    f"worst {fmt(worst_cpu, 1)} ms ({kind})",
                    _met(worst_cpu <= CPU_TARGET_MS),
                ]
            )
    for backend, sizes in results["webhook"].items():
        largest = max(sizes)
        hook = sizes[largest]
        rate = hook["summary"].per_second
        target = WEBHOOK_TARGET.get(backend)
        rows.append(
            [
                f"W2 webhook, 8 senders, {largest:,} installs ({backend})",
                f"≥ {target:.0f}/s" if target else "(reported)",
                f"{fmt(rate, 0)} events/s",
                _met(rate >= target) if target else "-",
            ]
        )
        rows.append(
            [
                f"W2 durable before the answer ({backend})",
                "every 202 stored after SIGKILL",
                f"{hook['durable_after_kill']:,} of {hook['accepted']:,} at all sizes"
                if all(h["durable_after_kill"] == h["accepted"] for h in sizes.values())
                else "LOST EVENTS",
                _met(all(h["durable_after_kill"] == h["accepted"] for h in sizes.values())),
            ]
        )
    for backend, sizes in results["import"].items():
        largest = max(sizes)
        rate = sizes[largest]["rows_per_s"]
        target = IMPORT_TARGET if backend == "SQLite" else None
        rows.append(
            [
                f"W3 `simsid-bot ingest` of {largest:,} lines ({backend})",
                f"≥ {IMPORT_TARGET:,.0f} rows/s" if target else "(reported)",
                f"{fmt(rate, 0)} rows/s",
                _met(rate >= IMPORT_TARGET) if target else "-",
            ]
        )
    for backend, sizes in results["memory"].items():
        largest = max(sizes)
        mb = sizes[largest]["after_mb"]
        rows.append(
            [
                f"W6 memory of serve (all processes) after W1, {largest:,} installs ({backend})",
                f"< {RSS_TARGET_MB:.0f} MB",
                f"{fmt(mb)} MB",
                _met(mb < RSS_TARGET_MB),
            ]
        )
    for backend, sizes in results.get("reconcile", {}).items():
        largest = max(sizes)
        target = RECONCILE_TARGET_S if backend == "SQLite" else None
        for mix, r in sizes[largest].items():
            for run, key in (("dry run", "dry_s"), ("--apply", "apply_s")):
                rows.append(
                    [
                        f"W7 `reconcile` {run}, {mix}: {r['listed']:,}-row list, "
                        f"{r['differences']:,} differences, {largest:,} installs ({backend})",
                        f"< {RECONCILE_TARGET_S:.0f} s" if target else "(reported)",
                        f"{fmt(r[key])} s",
                        _met(r[key] < RECONCILE_TARGET_S) if target else "-",
                    ]
                )
    return _table(["target", "goal", "result", ""], rows)


def reconcile_section(results: dict[str, Any]) -> list[str]:
    """W7: `simsid-bot reconcile`, dry run, apply and the run after."""
    runs = results.get("reconcile", {})
    if not runs:
        return []
    rows = [
        [
            backend,
            f"{size:,}",
            mix,
            f"{r['listed']:,}",
            f"{r['differences']:,}",
            f"{fmt(r['dry_s'])} ({fmt(r.get('dry_cpu_s', math.nan))})",
            f"{fmt(r['apply_s'])} ({fmt(r.get('apply_cpu_s', math.nan))})",
            f"{fmt(r['again_s'])} ({fmt(r.get('again_cpu_s', math.nan))})",
        ]
        for backend, sizes in runs.items()
        for size, mixes in sorted(sizes.items())
        for mix, r in mixes.items()
    ]
    out = ["## W7: reconciling with SIMS ID's list", ""]
    out += _table(
        [
            "database",
            "installs",
            "list",
            "list rows",
            "differences",
            "dry run s (CPU s)",
            "apply s (CPU s)",
            "again s (CPU s)",
        ],
        rows,
    )
    out += [
        "`simsid-bot reconcile LIST.csv` as an operator runs it (a subprocess, start-up "
        "included), after the other workloads, with lists written from the store "
        "(`bench/reconcile_workload.py`): *drift*, the hourly case, 1 in 100 rows each "
        "gone, new, with the slider the other way and with credentials; then *adoption*, "
        "the first run against a store filled by `ingest`, every other row enabled and "
        "every fourth with a client key and secret, so three rows in four differ. "
        "Wall seconds, with the subprocess's CPU seconds (user + system) in "
        "brackets: those hardly move when other work shares the machine. *dry run* prints "
        "every difference; *apply* is `--apply --force` (the "
        "removals exceed the default guard of 10); *again* is the dry run after it, which "
        "must report agreement. The list goes into a temporary table and is compared and "
        "applied in set-based statements; the cost that grows with the differences is "
        "mostly encrypting the secrets (Fernet, one by one) and printing the table.",
        "",
    ]
    return out


def latency_tables(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for backend, sizes in results["latency"].items():
        for users in (1, 16):
            out += [f"#### {backend}, {users} concurrent user{'s' if users > 1 else ''}", ""]
            kinds = list(next(iter(sizes.values()))[users])
            rows = []
            for kind in kinds:
                for size in sorted(sizes):
                    runs = sizes[size][users]
                    s: Summary = runs[kind]
                    is_base = kind.startswith("baseline")
                    base = None if is_base else _baseline_for(kind, runs)
                    base_pbr = None if is_base else _baseline_for(kind, runs, pbr=True)
                    done = (
                        f"{fmt(s.extra['done_p50'])} / {fmt(s.extra['done_p99'])}"
                        if "done_p50" in s.extra
                        else "-"
                    )
                    rows.append(
                        [
                            kind,
                            f"{size:,}",
                            str(s.n),
                            fmt(s.p50),
                            fmt(s.p95),
                            fmt(s.p99),
                            fmt(s.max),
                            fmt(s.per_second, 0),
                            "-" if base is None else f"{fmt(ratio(s.p50, base.p50), 2)}x",
                            "-" if base_pbr is None else f"{fmt(ratio(s.p50, base_pbr.p50), 2)}x",
                            fmt(s.extra.get("cpu_ms", math.nan)),
                            done,
                            str(s.errors)
                            + (
                                f" ({int(s.extra['deferred'])} deferred)"
                                if s.extra.get("deferred")
                                else ""
                            ),
                        ]
                    )
            out += _table(
                [
                    "request",
                    "installs",
                    "n",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "req/s",
                    "p50 ÷ baseline p50",
                    "p50 ÷ process_before_response baseline p50",
                    "server CPU ms/req",
                    "work done p50 / p99 ms",
                    "errors",
                ],
                rows,
            )
    return out


def render(
    results: dict[str, Any],
    *,
    machine: dict[str, str],
    command: str,
    quick: bool,
    started: str,
    elapsed_s: float,
    notes: list[str],
) -> str:
    out: list[str] = [
        "# Benchmarks" + (" (quick run: tiny sizes, CI smoke test)" if quick else ""),
        "",
        f"Generated by `{command}` on {started}, in {elapsed_s / 60:.1f} minutes. "
        "Every number below comes from that one run: the baselines ran in the same "
        "command, interleaved with what they are compared to, because the machine is "
        "shared and noisy. Ratios matter more than absolute times.",
        "",
        "Reproduce: `make install && .venv/bin/python -m bench` (the full run, writes "
        "`BENCHMARKS.md`) or `.venv/bin/python -m bench --quick` (under two minutes, "
        "writes `artifacts/BENCHMARKS.quick.md`). PostgreSQL comes from "
        "`BENCH_POSTGRES_URL` (a database the bench may wipe), or the bench starts a "
        "throwaway cluster with `scripts/start-test-postgres` on port 55433.",
        "",
    ]
    if notes:
        out += ["> " + note for note in notes] + [""]
    out += ["## Machine", ""]
    out += _table(["", ""], [[k, v] for k, v in machine.items()])
    out += ["## Targets", ""]
    if quick:
        out += [
            "The targets are about the full run's largest store; at the quick run's tiny "
            "sizes they are shown only to exercise the report (start-up dominates W3).",
            "",
        ]
    out += targets(results)
    out += [
        "## How it is measured",
        "",
        "- Stores are seeded through the real path: `simsid-bot ingest FILE` (a subprocess "
        "of the console script, settings from the environment), JSON lines of install "
        "events; N installations are N/10 sites each installing all 10 applications "
        "(200,000 = 20,000 sites x 10 apps), all pending.",
        "- Every request goes over real HTTP on loopback to `simsid-bot serve "
        "--no-scheduler --workers N` (a subprocess, as the Procfile's `web`; N is the "
        "machine's core count, serve's default), signed as Slack signs "
        "it (`tests/harness.py`). Slack is `bot/sandbox/fake_slack.py` in the bench "
        "process; response_url posts go to it too.",
        "- Latency is to the HTTP answer (Slack's 3-second clock stops there). Slash "
        "commands answer in the ack itself; for buttons the ack comes first and the "
        "work after, so *work done* is also shown: until the reply reached the "
        "response_url. Users are closed-loop: each sends its next request when the last "
        "is done. Percentiles are nearest-rank.",
        "- *Server CPU ms/req* is the user+system CPU time the server's processes (the "
        "gunicorn master and its workers) used during the run (/proc/<pid>/stat) divided "
        "by the requests: unlike latency it hardly moves when other work shares the "
        "machine, and it is what limits 16 closed-loop users.",
        "- Baselines (latency): a minimal Bolt app (`bench/baseline_app.py`) acking fixed "
        "text, on the same server as the bot (gunicorn, gthread, the same threads per "
        "worker and the same number of worker processes, `bot.web.prefork.server_config`), "
        "driven by the same client in the same run, once in Bolt's default mode and once "
        "in `process_before_response` mode; commands are compared with its slash "
        "command, buttons with its button click. The 16-user target compares with the "
        "default mode, the 1-user target with `process_before_response`.",
        "",
        "## W1: answer latency",
        "",
    ]
    out += latency_tables(results)
    out += ["## W2: install webhook", ""]
    rows = []
    for backend, sizes in results["webhook"].items():
        for size in sorted(sizes):
            h = sizes[size]
            s: Summary = h["summary"]
            b = h["baseline"]
            rows.append(
                [
                    backend,
                    f"{size:,}",
                    f"{h['events']:,}",
                    f"{h['accepted']:,}",
                    fmt(s.per_second, 0),
                    fmt(s.p50),
                    fmt(s.p99),
                    fmt(s.extra.get("cpu_ms", math.nan), 2),
                    f"{h['durable_after_kill']:,}",
                    fmt(b["per_second"], 0),
                    f"{fmt(ratio(s.per_second, b['per_second']), 2)}x",
                ]
            )
    out += _table(
        [
            "database",
            "store size",
            "events",
            "202s",
            "accepted/s (8 senders)",
            "p50 ms",
            "p99 ms",
            "server CPU ms/event",
            "stored after SIGKILL",
            "baseline/s (apply_event, 1 process)",
            "ratio",
        ],
        rows,
    )
    out += [
        "The server is killed with SIGKILL the moment the last answer arrives; "
        "*stored after SIGKILL* counts the events found in the database afterwards "
        "(SIGKILL to the master and every worker at once). "
        "Baseline: the same number of equivalent events applied with "
        "`Lifecycle.apply_event`, one transaction each (as the webhook did before group "
        "commit), in the bench process, no HTTP.",
        "",
        "## W3: bulk import (`simsid-bot ingest`)",
        "",
    ]
    rows = []
    for backend, sizes in results["import"].items():
        for size in sorted(sizes):
            i = sizes[size]
            b = results["import_baseline"][backend][size]
            rows.append(
                [
                    backend,
                    f"{size:,}",
                    fmt(i["seconds"]),
                    fmt(i["rows_per_s"], 0),
                    f"{b['rows']:,}",
                    fmt(b["rows_per_s"], 0),
                    f"{fmt(ratio(i['rows_per_s'], b['rows_per_s']), 1)}x",
                ]
            )
    out += _table(
        [
            "database",
            "lines",
            "wall s (whole command)",
            "rows/s",
            "baseline rows",
            "baseline rows/s (apply_event per event)",
            "ratio",
        ],
        rows,
    )
    out += [
        "Wall time is the whole `simsid-bot ingest` process: start-up, migrations (on "
        "SQLite), parsing, the import. Baseline: one `Lifecycle.apply_event` call per "
        "line, as the importer did before (batches of 500 per transaction), in the bench "
        "process, on the first lines of the same file into an empty store.",
        "",
        "## W4: burst delivery",
        "",
    ]
    burst = results.get("burst")
    if burst:
        posted = (
            f"{burst['messages']:,} ({burst['install_messages']:,} install messages, "
            f"{burst['summary_messages']:,} summaries)"
        )
        listed = (
            f"{burst['listed']:,} of {burst['installs']:,} "
            f"(paging took {fmt(burst['listing_s'])} s)"
        )
        out += _table(
            ["", ""],
            [
                [
                    "installs sent (webhook, steady rate)",
                    f"{burst['installs']:,} in {burst['seconds']:.0f} s",
                ],
                ["accepted (202)", f"{burst['accepted']:,}"],
                [
                    "Slack stand-in limit",
                    "1 chat.postMessage per second per channel (429 + Retry-After)",
                ],
                ["messages posted", posted],
                [
                    "applications covered by summaries",
                    f"{burst['summary_apps']} of 10 (one summary repeated "
                    f"{burst['most_repeated_summary']:,} times)",
                ],
                ["429s received", f"{burst['rate_limited']:,}"],
                ["all in the database as pending after", f"{fmt(burst['visible_s'])} s"],
                ["all posted or covered by a summary after", f"{fmt(burst['covered_s'])} s"],
                ["listed by paging `/simsid pending`", listed],
            ],
        )
        out += [
            "Times are from the first install sent; the installs are spread over the 10 "
            "applications, all posted to the default channel. Into an empty SQLite store, so "
            'that `/simsid pending` can be paged to the end. "-" means it did not happen '
            f"within {burst['grace_s']:.0f} s of the last install.",
            "",
        ]
    out += ["## W5: digest", ""]
    rows = []
    for backend, sizes in results["digest"].items():
        for size in sorted(sizes):
            d = sizes[size]
            rows.append(
                [
                    backend,
                    f"{d['pending']:,}",
                    fmt(d["p50_ms"]),
                    fmt(d["max_ms"]),
                    str(d["statements"]),
                    str(d["blocks"]),
                ]
            )
    out += _table(["database", "pending", "build p50 ms", "max ms", "statements", "blocks"], rows)
    out += [
        "Built as the delivery loop builds it: `store.queries.pending_counts` + "
        "`pending(limit=5)` + `bot.slack.views.digest`, in one read session; statements "
        "counted with SQLAlchemy's `before_cursor_execute` (BEGIN included), over "
        f"{next(iter(next(iter(results['digest'].values())).values()))['repeats']} builds.",
        "",
        "## W6: memory",
        "",
    ]
    rows = []
    for backend, sizes in results["memory"].items():
        for size in sorted(sizes):
            m = sizes[size]
            rows.append([backend, f"{size:,}", fmt(m["idle_mb"]), fmt(m["after_mb"])])
    out += _table(["database", "installs", "memory idle MB", "memory after W1 MB"], rows)
    out += [
        "The memory of `simsid-bot serve`, master and workers together: the sum of their "
        "proportional set sizes (/proc/<pid>/smaps_rollup `Pss`), so that the pages the "
        "workers share with the master after the fork count once.",
        "",
    ]
    out += reconcile_section(results)
    if NOTES.exists():
        out += ["## Notes", "", NOTES.read_text().strip(), ""]
    return "\n".join(out)


def finite(value: float) -> bool:
    return not math.isnan(value)

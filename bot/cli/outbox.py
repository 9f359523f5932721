"""`simsid-bot outbox [--retry ID|all]`: the decisions that have not reached
SIMSID_UPSTREAM_URL; `--retry all` tries at once every item a refusal of Slack holds."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TextIO

from bot.cli.terminal import safe
from store import decisions, refusals
from store.db import Database
from store.decisions import Decision, DecisionStatus
from store.models import utcnow

NAME_WIDTH = 28
ERROR_WIDTH = 40
COLUMNS = ("ID", "INSTALLATION", "APP", "SITE", "TYPE", "STATUS", "TRIES", "LAST ERROR", "AGE")


def show_outbox(
    db: Database,
    *,
    retry: int | str | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """List undelivered and failed decisions, or retry one; the command's exit status.

    0: listed, or the retry was recorded; 1: that decision cannot be retried (applied,
    being sent, or superseded), and the message says why; 2: no decision has that id.
    `clock` is the running bot's: "now" must mean the same instant to both.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    now = clock()
    if retry == "all":
        return _retry_all(db, out, now)
    if isinstance(retry, int):
        return _retry(db, retry, out, err, now)
    with db.read() as session:
        found = decisions.outstanding(session, now=now)
    if not found.decisions:
        print("no decisions waiting to reach upstream", file=out)
        return 0
    print(format_table(found.decisions, now), file=out)
    counts = {s: sum(1 for d in found.decisions if d.status is s) for s in DecisionStatus}
    summary = (
        f"{found.total} not applied upstream: {counts[DecisionStatus.WAITING]} waiting, "
        f"{counts[DecisionStatus.SENDING]} being sent, {counts[DecisionStatus.FAILED]} failed"
    )
    if found.total > len(found.decisions):
        summary += f" (the oldest {len(found.decisions)} shown)"
    print(summary, file=out)
    print("Send one again now: simsid-bot outbox --retry ID", file=out)
    return 0


def _retry_all(db: Database, out: TextIO, now: datetime) -> int:
    """Ask every refusing channel (and the token) again now, with all they hold."""
    with db.session() as session:
        standing = refusals.active(session)
        released = refusals.retry_all(session, now=now)
    if not standing:
        print("nothing is held: Slack has refused no channel and not the token", file=out)
        return 0
    for refused in standing:
        where = refusals.channel_of(refused.target)
        what = f"channel {where}" if where else "the bot token"
        print(safe(f"{what}: refused ({refused.error}); asked again now"), file=out)
    print(f"{released} held items will be tried now by the running bot", file=out)
    return 0


def _retry(db: Database, decision_id: int, out: TextIO, err: TextIO, now: datetime) -> int:
    # One transaction: what we report is what the reset saw.
    with db.session() as session:
        before = decisions.get(session, decision_id, now=now)
        retried = before is not None and decisions.retry(session, decision_id, now=now)
    if before is None:
        print(
            f"simsid-bot: no upstream decision has id {decision_id} "
            "(`simsid-bot outbox` lists them)",
            file=err,
        )
        return 2
    what = _describe(before)
    if retried:
        print(f"decision {decision_id} ({what}) will be sent now by the running bot", file=out)
        if before.behind_id is not None:
            print(
                f"it goes after decision {before.behind_id}, which is older and not yet "
                "delivered for the same installation (order is kept per installation)",
                file=out,
            )
        return 0
    if before.status is DecisionStatus.FAILED and before.newer_id is not None:
        why = (
            f"is superseded by decision {before.newer_id} for the same installation; "
            "sending it now would reach the receiver out of order"
        )
    elif before.status is DecisionStatus.APPLIED:
        why = "was already applied upstream; there is nothing to retry"
    else:
        why = "is being sent right now; run `simsid-bot outbox` again to see how it went"
    print(f"decision {decision_id} ({what}) {why}", file=out)
    return 1


def _describe(decision: Decision) -> str:
    return safe(f"{decision.type}: {decision.application_name} at {decision.site_name}")


def format_table(rows: Sequence[Decision], now: datetime) -> str:
    """A plain-text table, one decision a line, columns padded to their widest cell."""
    cells = [COLUMNS] + [
        (
            str(d.id),
            str(d.installation_id or "-"),
            _clip(f"{d.application_name} ({d.application_id})", NAME_WIDTH),
            _clip(f"{d.site_name} ({d.site_id})", NAME_WIDTH),
            d.type.removeprefix("installation."),
            _status(d, now),
            str(d.attempts),
            _clip(d.last_error or "-", ERROR_WIDTH),
            age((now - d.created_at).total_seconds()),
        )
        for d in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _status(decision: Decision, now: datetime) -> str:
    if decision.status is not DecisionStatus.WAITING:
        return str(decision.status)
    if decision.behind_id is not None:
        return f"waiting, after {decision.behind_id}"
    wait = (decision.due_at - now).total_seconds()
    return "waiting, due now" if wait <= 0 else f"waiting, next in {age(wait)}"


def age(seconds: float) -> str:
    """A short duration: 45s, 3m 05s, 2h 10m, 4d 3h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _clip(text: str, width: int) -> str:
    # One line per decision: names and errors come from elsewhere and may hold newlines,
    # and control characters that would drive the terminal.
    flat = safe(" ".join(text.split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"

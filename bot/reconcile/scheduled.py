"""The scheduled reconciliation with SIMS ID's list, once per SIMSID_RECONCILE_CRON period.

However many processes run the scheduler, one does each period's run: it inserts the
period's claim row (store/claims.py, as the digest does) and commits it before fetching,
so the others neither fetch nor apply. The run applies with the default guard
(`--max-changes` 10 removals, disables and approvals together, never `--force`) and tells
SIMSID_DEFAULT_CHANNEL, in one message queued in the outbox, what it changed or why it
refused, with how many of each it would have made. A list that cannot be fetched
is logged, told and shown in /healthz (`last_reconcile`), never raised: the next period tries
again. A crash between the claim and the apply skips that period, not the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from bot.cron import period_start
from bot.reconcile import DEFAULT_MAX_CHANGES, snapshot
from bot.reconcile.notice import Example, Notice
from bot.reconcile.run import GUARDED, ListClashes, ReconcileResult, reconcile
from store import claims, outbox
from store.db import Database, DatabaseUnavailable
from store.lifecycle import Lifecycle
from store.models import OutboxKind
from store.reconcile.last_run import record_run
from store.reconcile.types import Kind, Listed

log = logging.getLogger(__name__)

EXAMPLES = 15  # differences named in the channel message; the CLI lists them all

Loader = Callable[..., list[Listed]]


def period_key(period: datetime) -> str:
    """The claim key of the reconciliation of the period starting at `period`."""
    return f"reconcile:{period.astimezone(UTC).isoformat()}"


def run_scheduled(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    by: str,
    load: Loader = snapshot.load,
) -> str:
    """This period's reconciliation, if no other process has done it; returns what happened:
    "already", "in agreement", "applied", "refused", "failed" or "not configured"."""
    url = settings.simsid_reconcile_url
    if not url:
        return "not configured"
    period = period_start(now, settings.simsid_reconcile_cron, settings.tz)
    if period is None:
        return "not configured"
    with db.session() as session:
        if not claims.claim(session, period_key(period), by=by, now=now):
            return "already"
    source = snapshot.describe(url)
    token = settings.simsid_reconcile_token
    summary: dict[str, Any] = {"at": now.astimezone(UTC).isoformat(), "source": source}

    def refuse(detail: str, status: str = "refused") -> str:
        """Record the run as refused (or failed) and tell the channel why."""
        log.warning("reconcile %s: %s", status, detail)
        _record(
            db,
            summary | {"status": status, "detail": detail},
            notice=_refused(source, detail),
            channel=settings.simsid_default_channel,
            now=now,
        )
        return status

    try:
        rows = load(url, token=token.get_secret_value() if token else None)
    except snapshot.FetchError as exc:
        return refuse(f"the list could not be fetched: {exc}", "failed")
    except snapshot.SnapshotError as exc:
        return refuse(f"the list is not usable: {exc}")
    lifecycle = Lifecycle(upstream=False, default_channel=settings.simsid_default_channel)
    try:
        outcome = reconcile(db, lifecycle, rows, apply=True, max_changes=DEFAULT_MAX_CHANGES)
    except ListClashes as exc:
        # The period's claim is taken: say so now rather than lose the period unreported.
        return refuse(str(exc))
    status = outcome.status
    summary |= {"status": status, "listed": outcome.comparison.listed}
    notice = None
    if status == "refused":
        log.warning("reconcile refused: %s", outcome.refused)
        summary["detail"] = outcome.refused
        summary["would_change"] = outcome.would_change()
        notice = _refused(source, outcome.refused or "", outcome)
    elif status == "applied":
        summary["changed"] = _counts(outcome)
        log.info("reconcile applied: %s", summary["changed"])
        notice = _applied(source, outcome)
    _record(db, summary, notice=notice, channel=settings.simsid_default_channel, now=now)
    return status


def _record(
    db: Database,
    summary: dict[str, Any],
    *,
    notice: Notice | None = None,
    channel: str | None = None,
    now: datetime | None = None,
) -> None:
    try:
        with db.session() as session:
            record_run(session, summary)
            if notice is not None and channel:
                outbox.enqueue(
                    session,
                    OutboxKind.NOTICE,
                    now=now or datetime.now(UTC),
                    channel=channel,
                    payload=notice.to_payload(),
                )
    except DatabaseUnavailable as exc:
        log.warning("reconcile: could not record the run (%s)", exc)


def _counts(outcome: ReconcileResult) -> dict[str, int]:
    applied = outcome.applied
    return {k.value: applied.changed[k] for k in Kind if applied and applied.changed[k]}


def _examples(outcome: ReconcileResult, *, guarded_first: bool = False) -> tuple[Example, ...]:
    differences = outcome.comparison.differences
    if guarded_first:
        # A refusal by the guard shows the changes it counted, not new installations.
        differences = sorted(differences, key=lambda d: d.kind not in GUARDED)
    return tuple(
        Example(d.kind.value, d.application_name, d.site_name, d.site_id)
        for d in differences[:EXAMPLES]
    )


def _applied(source: str, outcome: ReconcileResult) -> Notice:
    return Notice(
        source=source,
        changed=_counts(outcome),
        total=len(outcome.comparison.differences),
        skipped=len(outcome.applied.skipped) if outcome.applied else 0,
        examples=_examples(outcome),
    )


def _refused(source: str, reason: str, outcome: ReconcileResult | None = None) -> Notice:
    return Notice(
        source=source,
        refused=reason,
        total=len(outcome.comparison.differences) if outcome else 0,
        examples=_examples(outcome, guarded_first=True) if outcome else (),
    )

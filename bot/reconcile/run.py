"""One reconciliation with SIMS ID's list: compare, and on request make the bot agree.

Dry run and apply read the same comparison; an apply compares again inside its own write
transaction, so what it applies is what the database holds at that moment. The guard
runs before anything is written: more than `max_changes` removals, disables and
approvals together are refused unless forced, so a truncated or wrong export neither
uninstalls customers nor switches them off or on in bulk with no admin involved. New
installations are not counted: a first adoption lists every one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import IntegrityError

from bot.reconcile import DEFAULT_MAX_CHANGES
from store.db import Database
from store.lifecycle import Lifecycle
from store.reconcile.apply import reconcile as reconcile_apply
from store.reconcile.compare import compare, compare_with, listed_table, one_apply_at_a_time
from store.reconcile.types import Applied, Comparison, Kind, Listed

# The changes of state a list makes to installations the bot already holds, as the
# refusal words them; each counts against the limit.
GUARDED = {Kind.GONE: "removed", Kind.DISABLED: "disabled", Kind.APPROVED: "approved"}

ReconcileStatus = Literal["in agreement", "differs", "applied", "refused"]


class ListClashes(Exception):
    """The list gives a client key the bot holds for another installation; nothing changed."""

    def __init__(self, exc: IntegrityError) -> None:
        reason = str(exc.orig or exc).splitlines()[0]
        super().__init__(f"the list clashes with the bot's data ({reason}); nothing changed")


@dataclass
class ReconcileResult:
    """What a reconciliation found, and what it did about it."""

    comparison: Comparison
    applied: Applied | None = None
    refused: str | None = None  # why nothing was applied

    def would_change(self) -> dict[str, int]:
        """The guarded changes of state the list asks for, by kind ("removed": 3, ...)."""
        counts = self.comparison.counts()
        return {word: counts[kind] for kind, word in GUARDED.items()}

    @property
    def status(self) -> ReconcileStatus:
        if self.refused:
            return "refused"
        if self.comparison.agree:
            return "in agreement"
        return "differs" if self.applied is None else "applied"


def reconcile(
    db: Database,
    lifecycle: Lifecycle,
    rows: list[Listed],
    *,
    apply: bool = False,
    notify: bool = False,
    max_changes: int = DEFAULT_MAX_CHANGES,
    force: bool = False,
) -> ReconcileResult:
    """Compare the bot with `rows`; with `apply`, make it agree unless the guard refuses
    (more than `max_changes` removals, disables and approvals together, unless `force`).
    Raises ListClashes when the list's credentials clash with the bot's."""
    if not apply:
        with db.read() as session:
            return ReconcileResult(compare(session, rows))
    try:
        with db.session() as session:
            one_apply_at_a_time(session)
            with listed_table(session, rows) as listed:
                comparison = compare_with(session, rows, listed)
                outcome = ReconcileResult(comparison)
                changes = outcome.would_change()
                total = sum(changes.values())
                if total > max_changes and not force:
                    outcome.refused = (
                        f"the list would remove {changes['removed']}, disable "
                        f"{changes['disabled']} and approve {changes['approved']} "
                        f"installations: {total} changes, more than the limit of "
                        f"{max_changes}. Is the list complete and right? Nothing was changed."
                    )
                    return outcome
                if comparison.agree:
                    return ReconcileResult(comparison, Applied())
                applied = reconcile_apply(lifecycle, session, comparison, notify=notify)
    except IntegrityError as exc:
        raise ListClashes(exc) from exc
    if applied.total:
        db.refresh_statistics()
    return ReconcileResult(comparison, applied)

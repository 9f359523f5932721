"""One reconciliation with SIMS ID's list: compare, and on request make the bot agree.

Dry run and apply read the same comparison; an apply compares again inside its own write
transaction, so what it applies is what the database holds at that moment. The guard on
removals runs before anything is written: a truncated export must never uninstall
customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from store.db import Database
from store.lifecycle import Lifecycle
from store.lifecycle.reconcile import Applied
from store.reconcile import (
    Comparison,
    Listed,
    compare,
    compare_with,
    listed_table,
    one_apply_at_a_time,
)

DEFAULT_MAX_REMOVALS = 10

Status = Literal["in agreement", "differs", "applied", "refused"]


@dataclass
class Outcome:
    """What a reconciliation found, and what it did about it."""

    comparison: Comparison
    applied: Applied | None = None
    refused: str | None = None  # why nothing was applied

    @property
    def status(self) -> Status:
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
    max_removals: int = DEFAULT_MAX_REMOVALS,
    force: bool = False,
) -> Outcome:
    """Compare the bot with `rows`; with `apply`, make it agree unless the guard refuses."""
    if not apply:
        with db.read() as session:
            return Outcome(compare(session, rows))
    with db.session() as session:
        one_apply_at_a_time(session)
        with listed_table(session, rows) as listed:
            comparison = compare_with(session, rows, listed)
            removals = comparison.removals
            if removals > max_removals and not force:
                return Outcome(
                    comparison,
                    refused=(
                        f"{removals} installations would be removed, more than the limit of "
                        f"{max_removals}: is the list complete? Nothing was changed."
                    ),
                )
            if comparison.agree:
                return Outcome(comparison, Applied())
            applied = lifecycle.reconcile(session, comparison, notify=notify)
    if applied.total:
        db.refresh_statistics()
    return Outcome(comparison, applied)

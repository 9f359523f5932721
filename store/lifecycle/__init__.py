"""The installation state machine: the only code that changes an installation's state.

Each public function is one unit of work inside the caller's session: the state change,
its audit row and the outbox rows for what must follow commit together or not at all.

The package by job: `domain` (actions, which are legal from which state, results,
events, errors), `rules` (the table of moves: what each does, for every path), `base`
(`Steps`: the one-installation moves every part shares), `actions` (Slack-side actions),
`removals` (the two-person rule), `events` (one event at a time, the reference rules),
`bulk` (the set-based path of apply_events), `tally` (the counts), `payload` (the
upstream decision), `slugs` and `core` (the Lifecycle, holding the parts). SIMS ID's list
is applied with these same parts and the same table, from outside the package (every
path that builds on the table: docs/lifecycle.md).
"""

from store.actors import is_person
from store.lifecycle.core import Lifecycle
from store.lifecycle.domain import (
    RESERVED_ACTORS,
    SIMS_ID,
    TRANSITIONS,
    Action,
    ActionResult,
    ConcurrentChange,
    EventResult,
    EventType,
    InstallEvent,
    NotEnabled,
    NotFound,
    Secret,
    allowed_actions,
)
from store.lifecycle.slugs import free_slug, slugify

__all__ = [
    "RESERVED_ACTORS",
    "SIMS_ID",
    "TRANSITIONS",
    "Action",
    "ActionResult",
    "ConcurrentChange",
    "EventResult",
    "EventType",
    "InstallEvent",
    "Lifecycle",
    "NotEnabled",
    "NotFound",
    "Secret",
    "allowed_actions",
    "free_slug",
    "is_person",
    "slugify",
]

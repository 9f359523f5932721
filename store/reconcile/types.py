"""What a reconciliation with SIMS ID's list is made of: the list's rows, the differences
found, and what an apply changed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from store.models import State

Pair = tuple[str, str]  # (application id, site id)


class Kind(StrEnum):
    """A kind of difference, in the order the table lists them."""

    NEW = "new"
    GONE = "gone"
    APPROVED = "approved in SIMS ID"
    DISABLED = "disabled in SIMS ID"
    CREDENTIALS = "credentials differ"


KIND_ORDER = {kind: position for position, kind in enumerate(Kind)}


class Listed(NamedTuple):
    """One row of SIMS ID's list, already validated (a tuple: lists are 200,000 long)."""

    application_id: str
    application_name: str
    site_id: str
    site_name: str
    enabled: bool
    site_urn: str | None = None
    site_dfe_number: str | None = None
    # As SIMS ID's report viewer shows them; both or neither.
    client_key: str | None = None
    client_secret: str | None = None

    @property
    def pair(self) -> Pair:
        return (self.application_id, self.site_id)


class Difference(NamedTuple):
    """One way the bot differs from the list, with what is needed to apply it."""

    kind: Kind
    application_id: str
    site_id: str
    application_name: str
    site_name: str
    bot_state: State | None  # None: the bot has never heard of it
    listed_enabled: bool | None  # None: not in the list
    installation_id: int | None = None
    version: int | None = None
    bot_key: str | None = None  # the client key the bot holds (CREDENTIALS)
    listed_key: str | None = None  # SIMS ID's client key (CREDENTIALS)
    listed: Listed | None = None  # the list's row (every kind but GONE), for the apply


@dataclass
class Comparison:
    """Every difference between the bot and a list of `listed` rows."""

    listed: int
    differences: list[Difference]

    @property
    def agree(self) -> bool:
        return not self.differences

    def counts(self) -> Counter[Kind]:
        return Counter(d.kind for d in self.differences)

    @property
    def removals(self) -> int:
        return self.counts()[Kind.GONE]

    def of(self, kind: Kind) -> list[Difference]:
        return [d for d in self.differences if d.kind is kind]


@dataclass
class Applied:
    """What an apply changed, by kind, and what it left because someone else got there first."""

    changed: Counter[Kind] = field(default_factory=Counter)
    skipped: list[Difference] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)  # applications new to the bot

    @property
    def total(self) -> int:
        return sum(self.changed.values())

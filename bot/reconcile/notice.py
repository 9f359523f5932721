"""The channel's notice of a scheduled reconciliation, typed; the outbox holds it as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

APPLIED = "reconciled"
REFUSED = "reconcile_refused"


@dataclass(frozen=True)
class Example:
    """One difference named in the notice."""

    kind: str
    application: str
    site: str
    site_id: str = ""


@dataclass(frozen=True)
class Notice:
    """What a scheduled reconciliation changed, or why it refused to (plain data, no secrets)."""

    source: str
    refused: str | None = None  # why nothing was changed; None: it was applied
    changed: dict[str, int] = field(default_factory=dict)  # by kind of difference
    total: int = 0  # differences found
    skipped: int = 0  # changed by someone else meanwhile
    examples: tuple[Example, ...] = ()

    def to_payload(self) -> dict[str, Any]:
        """The outbox's JSON (the keys rows queued before an upgrade also have)."""
        examples = [
            {"kind": e.kind, "application": e.application, "site": e.site, "site_id": e.site_id}
            for e in self.examples
        ]
        if self.refused is not None:
            return {
                "notice": REFUSED,
                "source": self.source,
                "reason": self.refused,
                "total": self.total,
                "examples": examples,
            }
        return {
            "notice": APPLIED,
            "source": self.source,
            "changed": dict(self.changed),
            "total": self.total,
            "skipped": self.skipped,
            "examples": examples,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notice:
        """The notice an outbox row holds; a missing field reads as empty."""
        examples = tuple(
            Example(
                kind=str(e.get("kind", "")),
                application=str(e.get("application", "")),
                site=str(e.get("site", "")),
                site_id=str(e.get("site_id", "")),
            )
            for e in payload.get("examples", [])
        )
        refused = str(payload.get("reason", "")) if payload.get("notice") == REFUSED else None
        return cls(
            source=str(payload.get("source", "")),
            refused=refused,
            changed={str(k): int(n) for k, n in dict(payload.get("changed", {})).items()},
            total=int(payload.get("total", 0)),
            skipped=int(payload.get("skipped", 0)),
            examples=examples,
        )

"""Deterministic install events: the seed files `simsid-bot ingest` reads, and webhook bodies.

A store of N installations is N/10 sites each installing all ten applications, so the
largest size (200,000) is 20,000 sites across 10 applications. Names are varied enough
that sorting by name, searching and exact matching behave as they would on real data.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

APPS: tuple[tuple[str, str], ...] = (
    ("app-homework", "Homework Hub"),
    ("app-parentpay", "Parent Pay Connect"),
    ("app-timetable", "Timetable Plus"),
    ("app-library", "Library Loans"),
    ("app-meals", "School Meals Online"),
    ("app-reports", "Report Writer"),
    ("app-attend", "Attendance Alerts"),
    ("app-sen", "SEN Tracker"),
    ("app-trips", "Trips and Consent"),
    ("app-music", "Music Lessons"),
)

_FIRST = (
    "Oakfield", "Riverside", "St Mary's", "Hillcrest", "Meadowbank", "Ashgrove", "Kingsway",
    "Northgate", "Elmwood", "Brookside", "Holy Trinity", "Westfield", "Greenacres", "Fairview",
    "Beechwood", "Castle Hill", "Lakeside", "Springfield", "Moorland", "Queensbury",
)  # fmt: skip
_KIND = ("Primary", "Academy", "Infant School", "Junior School", "High School", "College")
SEED_EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_RUN_STARTED = time.time()  # a file from an earlier run may come from other code


@dataclass(frozen=True)
class SiteSpec:
    id: str
    name: str
    urn: str
    dfe_number: str


def site(number: int, prefix: str = "site") -> SiteSpec:
    """The number-th site: a stable id, a school-like name, unique URN and DfE number."""
    name = f"{_FIRST[number % len(_FIRST)]} {_KIND[(number // 7) % len(_KIND)]} {number:05d}"
    if prefix != "site":
        name += f" ({prefix})"  # names stay unique across the sets of sites
    tag = 0 if prefix == "site" else (sum(map(ord, prefix)) % 89 + 1)
    urn = f"{tag:02d}{number:07d}"
    dfe = f"{800 + tag % 200}/{number:06d}"
    return SiteSpec(f"{prefix}-{number:06d}", name, urn, dfe)


def event(
    event_id: str,
    app: tuple[str, str],
    spec: SiteSpec,
    occurred_at: datetime,
    type_: str = "installation.created",
) -> dict[str, Any]:
    """One install event, shaped as the webhook's body (docs/webhook.md)."""
    return {
        "id": event_id,
        "type": type_,
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "application": {"id": app[0], "name": app[1]},
        "site": {
            "id": spec.id,
            "name": spec.name,
            "urn": spec.urn,
            "dfe_number": spec.dfe_number,
        },
    }


def sites_for(installations: int) -> int:
    return max(1, installations // len(APPS))


def seed_events(installations: int) -> list[dict[str, Any]]:
    """`installations` created events: every site installs every application."""
    out: list[dict[str, Any]] = []
    for n in range(installations):
        number, app = divmod(n, len(APPS))
        when = SEED_EPOCH + timedelta(seconds=n)
        out.append(event(f"evt-seed-{n:07d}", APPS[app], site(number), when))
    return out


def write_seed_file(path: Path, installations: int) -> Path:
    """The JSON-lines file `simsid-bot ingest` imports (written once per run)."""
    if path.exists() and path.stat().st_mtime >= _RUN_STARTED:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for body in seed_events(installations):
            out.write(json.dumps(body, separators=(",", ":")) + "\n")
    tmp.replace(path)
    return path


def new_installs(count: int, prefix: str, *, start: datetime | None = None) -> list[dict[str, Any]]:
    """`count` installs of new sites (ten applications each), for the webhook workloads."""
    start = start or datetime.now(UTC)
    out: list[dict[str, Any]] = []
    for n in range(count):
        number, app = divmod(n, len(APPS))
        when = start + timedelta(milliseconds=n)
        out.append(event(f"evt-{prefix}-{n:07d}", APPS[app], site(number, prefix), when))
    return out

"""Deciding from a list: an application's installations named by URN or DfE number.

Reading the list (`parse_list`), the preview of what it matches (`preview`, a few
set-based queries however long the list), keeping a preview until its form is sent
(`save`, `take`), and applying exactly the previewed set (`apply`) through the lifecycle
as one batch, with one summary for the application's channel.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlmodel import Session, col

from store import outbox
from store.lifecycle import TRANSITIONS, Action, Lifecycle
from store.models import (
    Application,
    DecidePreview,
    Installation,
    OutboxKind,
    Site,
    State,
)

MAX_IDENTIFIERS = 5000
LINE_MAX = 100_000  # characters on a line: 5,000 identifiers, commas and spaces fit
ACTIONS = (Action.APPROVE, Action.DISABLE)
_IN_CHUNK = 500  # identifiers per IN (...) list, well inside every driver's parameter limit
_TOKEN = re.compile(r"[0-9A-Za-z/-]{1,20}")
_SPLIT = re.compile(r"[\s,;]+")
_DFE = re.compile(r"([0-9]{3})[/-]?([0-9]{4})")
PREVIEW_TTL = timedelta(days=1)


class BadList(ValueError):
    """The list cannot be read; the message names the line."""


def parse_lines(lines: Iterable[str]) -> list[str]:
    """The identifiers of a list, in order: one a line, or separated by commas, semicolons
    or spaces; BadList naming the line when one is not an identifier or there are too many."""
    found: list[str] = []
    for number, line in enumerate(lines, start=1):
        if len(line) > LINE_MAX:
            raise BadList(f"line {number}: longer than {LINE_MAX:,} characters")
        for token in _SPLIT.split(line.strip()):
            if not token:
                continue
            if not _TOKEN.fullmatch(token):
                shown = token[:20].replace("`", "'")
                raise BadList(f"line {number}: `{shown}` is not a URN or a DfE number")
            found.append(token)
            if len(found) > MAX_IDENTIFIERS:
                raise BadList(
                    f"line {number}: more than {MAX_IDENTIFIERS:,} identifiers; split the list"
                )
    return found


def parse_list(text: str) -> list[str]:
    """parse_lines() of a pasted text."""
    return parse_lines(text.splitlines())


def _forms(token: str) -> tuple[str, ...]:
    """What a stored URN or DfE number equal to `token` may look like: a DfE number is
    written 8231234, 823/1234 or 823-1234."""
    match = _DFE.fullmatch(token)
    if match is None:
        return (token,)
    la, school = match.groups()
    return tuple(dict.fromkeys((token, f"{la}/{school}", f"{la}{school}")))


@dataclass(frozen=True)
class Match:
    """One installation a list names, as it stood when read."""

    installation_id: int
    version: int
    state: State
    site_id: str
    site_name: str
    identifier: str  # the first identifier of the list that named it


@dataclass(frozen=True)
class Duplicate:
    identifier: str
    of: str  # the earlier identifier naming the same school (itself, if repeated)
    site_name: str | None


@dataclass(frozen=True)
class Preview:
    """What deciding from a list would do now."""

    application_id: str
    application_name: str
    action: Action
    eligible: tuple[Match, ...] = ()  # the action applies to these now
    ineligible: tuple[Match, ...] = ()  # matched, but in a state the action does not apply to
    unmatched: tuple[str, ...] = ()  # no installation of the application at such a school
    duplicates: tuple[Duplicate, ...] = ()
    identifiers: int = 0

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return [(m.installation_id, m.version) for m in self.eligible]

    @property
    def differences(self) -> bool:
        """Whether anything would change."""
        return bool(self.eligible)


def _matches(
    session: Session, app_id: str, forms: list[str]
) -> list[tuple[Match, str | None, str | None]]:
    """(match, its URN, its DfE number) for each installation of `app_id` at a school whose
    URN or DfE number is one of `forms`: two IN lists per chunk, each on an index."""
    core = session.connection()
    sqlite = core.dialect.name == "sqlite"
    rows: dict[int, tuple[Match, str | None, str | None]] = {}
    for column in (col(Site.urn), col(Site.dfe_number)):
        query = (
            select(
                col(Installation.id),
                col(Installation.version),
                col(Installation.state),
                col(Site.id),
                col(Site.name),
                col(Site.urn),
                col(Site.dfe_number),
            )
            .join(Site, col(Site.id) == col(Installation.site_id))
            .where(col(Installation.application_id) == app_id)
        )
        for start in range(0, len(forms), _IN_CHUNK):
            chunk = forms[start : start + _IN_CHUNK]
            matching = column.in_(chunk)
            if sqlite:
                # The sites first, by the URN or DfE index, then (application, site) by the
                # unique index: the plain join led SQLite through every installation of the
                # app. PostgreSQL plans the plain join so, and the subquery slower.
                matching = col(Installation.site_id).in_(select(col(Site.id)).where(matching))
            for iid, version, state, site_id, name, urn, dfe in core.execute(query.where(matching)):
                assert iid is not None
                rows[iid] = (Match(iid, version, State(state), site_id, name, ""), urn, dfe)
    return list(rows.values())


def preview(session: Session, app: Application, action: Action, tokens: Sequence[str]) -> Preview:
    """What `action` from this list would do to `app`'s installations now."""
    every_form = sorted({form for token in tokens for form in _forms(token)})
    found = _matches(session, app.id, every_form)
    by_form: dict[str, list[tuple[Match, str | None, str | None]]] = {}
    for row in found:
        _, urn, dfe = row
        for value in {urn, dfe}:
            if value is not None:
                by_form.setdefault(value, []).append(row)
    seen_tokens: dict[str, str] = {}
    claimed: dict[int, Match] = {}
    eligible: list[Match] = []
    ineligible: list[Match] = []
    unmatched: list[str] = []
    duplicates: list[Duplicate] = []
    for token in tokens:
        dfe_form = _DFE.fullmatch(token)
        key = "".join(dfe_form.groups()) if dfe_form else token  # one key for a DfE number's forms
        if key in seen_tokens:
            duplicates.append(Duplicate(token, seen_tokens[key], None))
            continue
        seen_tokens[key] = token
        hits = {m.installation_id: m for form in _forms(token) for m, _, _ in by_form.get(form, [])}
        if not hits:
            unmatched.append(token)
            continue
        for iid, m in sorted(hits.items()):
            if iid in claimed:
                earlier = claimed[iid]
                duplicates.append(Duplicate(token, earlier.identifier, earlier.site_name))
                continue
            named = Match(m.installation_id, m.version, m.state, m.site_id, m.site_name, token)
            claimed[iid] = named
            legal = TRANSITIONS[action].get(m.state) is not None
            (eligible if legal else ineligible).append(named)
    return Preview(
        application_id=app.id,
        application_name=app.name,
        action=action,
        eligible=tuple(eligible),
        ineligible=tuple(ineligible),
        unmatched=tuple(unmatched),
        duplicates=tuple(duplicates),
        identifiers=len(tokens),
    )


def save(
    session: Session, result: Preview, *, actor: str, reason: str | None, now: datetime
) -> str:
    """Keep a preview until its form is sent; its id. Previews a day old go."""
    session.execute(delete(DecidePreview).where(col(DecidePreview.created_at) < now - PREVIEW_TTL))
    preview_id = uuid.uuid4().hex
    session.add(
        DecidePreview(
            id=preview_id,
            application_id=result.application_id,
            action=result.action.value,
            actor=actor,
            reason=reason,
            created_at=now,
            pairs=[list(p) for p in result.pairs],
        )
    )
    return preview_id


def take(session: Session, preview_id: str, actor: str) -> DecidePreview | None:
    """The preview `actor` made, removed so that it is applied once; None if there is none."""
    record = session.get(DecidePreview, preview_id, with_for_update=True)
    if record is None or record.actor != actor:
        return None
    session.delete(record)
    return record


@dataclass
class BatchResult:
    """What applying a previewed list did: one batch of decisions."""

    application_id: str
    application_name: str
    action: Action
    batch: str
    actor: str
    changed: int = 0
    skipped: list[tuple[str, State]] = field(default_factory=list)  # site name, state now


def apply(
    session: Session,
    lifecycle: Lifecycle,
    *,
    app: Application,
    action: Action,
    pairs: Sequence[tuple[int, int]],
    actor: str,
    reason: str | None,
    now: datetime,
    batch: str | None = None,
) -> BatchResult:
    """`action` on each previewed (installation, version) of `app` unchanged since, as one
    audited batch, and one summary queued for the application's channel."""
    batch = batch or uuid.uuid4().hex[:12]
    ours = {
        iid
        for iid in session.scalars(
            select(col(Installation.id)).where(
                col(Installation.application_id) == app.id,
                col(Installation.id).in_([i for i, _ in pairs] or [-1]),
            )
        )
    }
    pairs = [(i, v) for i, v in pairs if i in ours]  # another application's: not this form's
    done = BatchResult(app.id, app.name, action, batch, actor)
    changes = lifecycle.act_batch(
        session, pairs=pairs, action=action, actor=actor, batch=batch, reason=reason
    )
    refused = [c.installation_id for c in changes if not c.applied]
    done.changed = len(changes) - len(refused)
    if refused:
        rows = session.execute(
            select(col(Site.name), col(Installation.state))
            .join(Site, col(Site.id) == col(Installation.site_id))
            .where(col(Installation.id).in_(refused))
            .order_by(col(Site.name))
        )
        done.skipped = [(name, State(state)) for name, state in rows]
    channel = app.channel or lifecycle.default_channel
    if channel and (done.changed or done.skipped):
        outbox.enqueue(
            session,
            OutboxKind.NOTICE,
            now=now,
            channel=channel,
            payload={
                "notice": "decided",
                "application": app.name,
                "action": action.value,
                "actor": actor,
                "batch": batch,
                "changed": done.changed,
                "skipped": [[name, str(state)] for name, state in done.skipped[:50]],
                "skipped_total": len(done.skipped),
                "reason": reason,
            },
        )
    return done

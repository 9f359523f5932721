"""Reconcile's set-based apply against the one-installation path.

`Lifecycle.reconcile` (a handful of statements for the whole list) must leave the
database as `reconcile_one_by_one` does, which makes each difference's move
through the path every Slack click and install event takes: installation states,
versions and reset columns, audit rows per installation, outbox rows, credentials,
applications, sites and the counts. Both sides start from the same history (install
events, clicks, open removal requests, posted messages) on a fresh database, with the
clock standing still so that timestamps compare too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import col

from store import messages
from store.db import Database
from store.lifecycle import Action, EventType, InstallEvent, Lifecycle
from store.lifecycle.tally import counts, full_recount
from store.models import Installation
from store.reconcile.apply import reconcile, reconcile_one_by_one
from store.reconcile.compare import compare
from store.reconcile.types import Listed
from tests.factories import ADMIN, BASE_TIME
from tests.lifecycle_snapshot import by_installation, fresh_postgres, fresh_sqlite, snapshot

APPS = ("app-a", "app-b")
NEW_APP = "app-new"  # only ever in the list: reconcile registers it
SITES = ("s1", "s2", "s3")
OTHER_ADMIN = "U0ADMIN02"
FROZEN = BASE_TIME + timedelta(hours=1)

Step = tuple[Any, ...]


@st.composite
def _steps(draw: st.DrawFn) -> list[Step]:
    """A history: some installations first, then install events, clicks (a person's
    Remove records a request) and messages posted to Slack, in any order."""
    pair = st.tuples(st.sampled_from(APPS), st.sampled_from(SITES))
    installed = draw(st.lists(pair, unique=True, max_size=4))
    steps: list[Step] = [("event", EventType.CREATED, p) for p in installed]
    steps += draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("event"), st.sampled_from(list(EventType)), pair),
                st.tuples(st.just("act"), st.sampled_from(list(Action)), pair),
                st.tuples(st.just("act"), st.just(Action.REMOVE), pair),
                st.tuples(st.just("posted"), pair),
            ),
            max_size=10,
        )
    )
    return steps


def _listing() -> st.SearchStrategy[dict[tuple[str, str], tuple[bool, str | None]]]:
    """SIMS ID's list: some pairs, enabled or not, some with credentials of their own."""
    pair = st.tuples(st.sampled_from((*APPS, NEW_APP)), st.sampled_from(SITES))
    row = st.tuples(st.booleans(), st.sampled_from((None, "A", "B")))
    return st.dictionaries(pair, row, max_size=9)


def _listed(listing: dict[tuple[str, str], tuple[bool, str | None]]) -> list[Listed]:
    rows = []
    for (app, site), (enabled, key) in sorted(listing.items()):
        credentials = {}
        if key is not None:
            credentials = {"client_key": f"ck_{app}_{site}_{key}", "client_secret": f"s-{key}"}
        rows.append(
            Listed(
                application_id=app,
                application_name=f"App {app}",
                site_id=site,
                site_name=f"Academy {site}",
                enabled=enabled,
                site_urn=f"1{site[1:]}",
                **credentials,  # type: ignore[arg-type]
            )
        )
    return rows


def _lifecycle(channel: str | None) -> Lifecycle:
    frozen = FROZEN
    return Lifecycle(
        upstream=True, default_channel=channel, clock=lambda: frozen, remove_approvals=2
    )


def _replay(db: Database, lifecycle: Lifecycle, steps: list[Step]) -> None:
    for n, step in enumerate(steps):
        with db.session() as session:
            kind, *args = step
            if kind == "event":
                type_, (app, site) = args
                lifecycle.apply_event(
                    session,
                    InstallEvent(
                        id=f"e{n}",
                        type=type_,
                        occurred_at=BASE_TIME + timedelta(minutes=n),
                        application_id=app,
                        application_name=f"App {app}",
                        site_id=site,
                        site_name=f"School {site}",
                    ),
                )
                continue
            (app, site) = args[-1]
            inst_id = session.scalar(
                select(col(Installation.id)).where(
                    col(Installation.application_id) == app, col(Installation.site_id) == site
                )
            )
            if inst_id is None:
                continue
            if kind == "act":
                actor = ADMIN if n % 2 else OTHER_ADMIN
                lifecycle.act(
                    session, installation_id=inst_id, action=args[0], actor=actor, reason="why"
                )
            else:
                messages.record_posted(session, inst_id, channel="C0POSTED", ts=f"{n}.0")


_SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
_GIVEN = given(
    steps=_steps(),
    listing=_listing(),
    notify=st.booleans(),
    channel=st.sampled_from((None, "C0DEFAULT")),
)


@settings(max_examples=100, deadline=None, suppress_health_check=_SLOW_OK)
@_GIVEN
def test_reconcile_ends_as_one_difference_at_a_time(
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[Step],
    listing: dict[tuple[str, str], tuple[bool, str | None]],
    notify: bool,
    channel: str | None,
) -> None:
    directory = tmp_path_factory.getbasetemp()
    _check(lambda: fresh_sqlite(sqlite_template, directory), steps, listing, notify, channel)


@pytest.mark.postgres
@settings(max_examples=25, deadline=None, suppress_health_check=_SLOW_OK)
@_GIVEN
def test_reconcile_ends_as_one_difference_at_a_time_on_postgresql(
    postgres_schema: str,
    steps: list[Step],
    listing: dict[tuple[str, str], tuple[bool, str | None]],
    notify: bool,
    channel: str | None,
) -> None:
    _check(lambda: fresh_postgres(postgres_schema), steps, listing, notify, channel)


def _check(
    fresh: Callable[[], AbstractContextManager[Database]],
    steps: list[Step],
    listing: dict[tuple[str, str], tuple[bool, str | None]],
    notify: bool,
    channel: str | None,
) -> None:
    lifecycle = _lifecycle(channel)
    rows = _listed(listing)
    sides = {}
    for side in ("single", "set"):
        with fresh() as db:
            _replay(db, lifecycle, steps)
            with db.session() as session:
                comparison = compare(session, rows)
                if side == "single":
                    applied = reconcile_one_by_one(lifecycle, session, comparison, notify=notify)
                else:
                    applied = reconcile(lifecycle, session, comparison, notify=notify)
            with db.read() as session:
                assert counts(session) == full_recount(session), side
            sides[side] = (applied, snapshot(db))

    (single, expected), (bulk, actual) = sides["single"], sides["set"]
    assert bulk.changed == single.changed
    assert bulk.skipped == single.skipped
    assert bulk.registered == single.registered
    for table in ("installations", "credentials", "applications", "sites"):
        assert actual[table] == expected[table], table
    # One audit row per change, in each installation's order; across installations the
    # set-based apply writes by kind of change, not in the list's order.
    assert by_installation(actual["audit"]) == by_installation(expected["audit"])
    assert by_installation(actual["outbox"]) == by_installation(expected["outbox"])

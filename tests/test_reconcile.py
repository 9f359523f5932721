"""Reconciling with SIMS ID's list, on SQLite and PostgreSQL: every row of the table in
docs/reconcile.md, the guard, idempotence and races."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from bot.reconcile.run import reconcile
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import AuditEntry, Credential, CredentialOrigin, OutboxKind, State
from store.reconcile import apply as list_apply
from store.reconcile.compare import compare
from store.reconcile.types import Kind, Listed
from tests import factories
from tests.factories import act, audit_rows, get, install, installation_id, outbox_rows

_kept_open = pytest.fixture(autouse=True)(factories.kept_open)

KEY = "ck_" + "S" * 24
SECRET = "s" * 43


def listed(site: str = "s1", enabled: bool = False, app: str = "app-hw", **extra: str) -> Listed:
    return Listed(
        application_id=app,
        application_name=f"App {app}",
        site_id=site,
        site_name=f"School {site}",
        enabled=enabled,
        **extra,  # type: ignore[arg-type]
    )


def apply(db: Database, rows: list[Listed], **kwargs: object):  # type: ignore[no-untyped-def]
    lifecycle = Lifecycle(upstream=True, default_channel="C0DEFAULT")
    return reconcile(db, lifecycle, rows, apply=True, **kwargs)  # type: ignore[arg-type]


def dry(db: Database, rows: list[Listed]):  # type: ignore[no-untyped-def]
    return reconcile(db, Lifecycle(), rows)


def kinds(db: Database, rows: list[Listed]) -> list[tuple[str, str]]:
    return [(d.kind.value, d.site_id) for d in dry(db, rows).comparison.differences]


def audit_count(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def credential(db: Database, inst: int) -> Credential | None:
    with db.read() as session:
        found = session.get(Credential, inst)
        if found is not None:
            session.expunge(found)
        return found


def no_upstream(db: Database) -> None:
    assert outbox_rows(db, kind=OutboxKind.UPSTREAM) == []


# -- listed, unknown or removed: a new installation ----------------------------


def test_listed_but_unknown_becomes_a_new_installation_pending_or_enabled(db: Database) -> None:
    rows = [listed("s1", enabled=False), listed("s2", enabled=True)]
    assert kinds(db, rows) == [("new", "s1"), ("new", "s2")]
    assert audit_count(db) == 0  # the dry run changed nothing

    outcome = apply(db, rows)

    assert outcome.status == "applied"
    assert outcome.applied.changed[Kind.NEW] == 2
    assert outcome.applied.registered == ["app-hw"]
    pending, enabled = installation_id(db, site="s1"), installation_id(db, site="s2")
    assert get(db, pending).state is State.PENDING
    assert get(db, enabled).state is State.ENABLED
    assert get(db, enabled).changed_by == "sims-id"
    # Enabled without credentials in the list: the bot issues them, as on approval.
    cred = credential(db, enabled)
    assert cred is not None and cred.secret and cred.origin == CredentialOrigin.BOT
    assert [(a.actor, a.action, a.to_state) for a in audit_rows(db, enabled)] == [
        ("sims-id", "installed", "enabled")
    ]
    # New installations are not posted without --notify, and nothing goes upstream.
    assert outbox_rows(db, kind=OutboxKind.MESSAGE) == []
    no_upstream(db)


@pytest.mark.postgres
def test_an_apply_leaves_postgres_planner_statistics_current(postgres_url: str) -> None:
    # An adoption can add 100,000s of rows; listings must not wait for autovacuum to
    # learn of them (see Database.refresh_statistics). 40: under autovacuum's threshold.
    db = Database(postgres_url)
    try:
        apply(db, [listed(f"s{n}") for n in range(40)])
        with db.read() as session:
            known = session.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'installation'")
            )
        assert known == 40
    finally:
        db.dispose()


def test_new_installations_are_posted_with_notify(db: Database) -> None:
    apply(db, [listed("s1")], notify=True)
    inst = installation_id(db, site="s1")
    assert [r.channel for r in outbox_rows(db, inst, OutboxKind.MESSAGE)] == ["C0DEFAULT"]


def test_listed_but_removed_starts_a_new_cycle(db: Database) -> None:
    inst = install(db)
    act(db, inst, Action.APPROVE)
    old = credential(db, inst)
    act(db, inst, Action.DISABLE)
    act(db, inst, Action.REMOVE)
    assert kinds(db, [listed("s1", enabled=True)]) == [("new", "s1")]

    apply(db, [listed("s1", enabled=True)])

    row = get(db, inst)
    assert row.state is State.ENABLED and row.changed_by == "sims-id"
    cred = credential(db, inst)
    assert old is not None and cred is not None
    # A new cycle gets a new secret under the same key, as a reinstall does.
    assert cred.client_key == old.client_key and cred.secret and cred.secret != old.secret
    assert audit_rows(db, inst)[-1].action == "reinstalled"
    no_upstream(db)


# -- not listed: removed ----------------------------------------------------------


@pytest.mark.parametrize("state", [State.PENDING, State.ENABLED, State.DISABLED])
def test_not_listed_is_removed(db: Database, state: State) -> None:
    inst = install(db, site="gone")
    keep = install(db, site="kept")
    if state is not State.PENDING:
        act(db, inst, Action.APPROVE)
    if state is State.DISABLED:
        act(db, inst, Action.DISABLE)
    assert get(db, inst).state is state
    before = len(outbox_rows(db, inst, OutboxKind.MESSAGE))

    assert kinds(db, [listed("kept")]) == [("gone", "gone")]
    apply(db, [listed("kept")])

    assert get(db, inst).state is State.REMOVED
    assert get(db, keep).state is State.PENDING
    last = audit_rows(db, inst)[-1]
    assert (last.actor, last.action, last.from_state, last.to_state) == (
        "sims-id",
        "uninstalled",
        state.value,
        "removed",
    )
    cred = credential(db, inst)
    assert cred is None or cred.secret is None  # Remove destroys the secret
    # Its message is refreshed in place (the coalescing row is queued again), not upstream.
    messages = outbox_rows(db, inst, OutboxKind.MESSAGE)
    assert messages and (len(messages) > before or messages[-1].generation > 1)
    no_upstream(db)


# -- yes / no ----------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.PENDING, State.DISABLED])
def test_yes_in_sims_id_enables(db: Database, state: State) -> None:
    inst = install(db)
    if state is State.DISABLED:
        act(db, inst, Action.DISABLE)
    assert kinds(db, [listed(enabled=True)]) == [("approved in SIMS ID", "s1")]

    apply(db, [listed(enabled=True)])

    assert get(db, inst).state is State.ENABLED
    assert audit_rows(db, inst)[-1].action == "approved_in_SIMS_ID"
    cred = credential(db, inst)
    assert cred is not None and cred.secret and cred.origin == CredentialOrigin.BOT
    no_upstream(db)


def test_no_in_sims_id_disables_an_enabled_installation(db: Database) -> None:
    inst = install(db)
    act(db, inst, Action.APPROVE)
    key = credential(db, inst)
    assert kinds(db, [listed(enabled=False)]) == [("disabled in SIMS ID", "s1")]

    apply(db, [listed(enabled=False)])

    assert get(db, inst).state is State.DISABLED
    assert audit_rows(db, inst)[-1].action == "disabled_in_SIMS_ID"
    assert credential(db, inst) == key  # Disable keeps the credentials
    no_upstream(db)


def test_no_agrees_with_pending_and_disabled(db: Database) -> None:
    install(db, site="s1")
    act(db, install(db, site="s2"), Action.DISABLE)
    assert dry(db, [listed("s1"), listed("s2")]).status == "in agreement"


# -- credentials -----------------------------------------------------------------


def test_credentials_from_the_list_are_stored_encrypted_and_revealed(db: Database) -> None:
    inst = install(db)
    act(db, inst, Action.APPROVE)
    row = listed(enabled=True, client_key=KEY, client_secret=SECRET)
    assert kinds(db, [row]) == [("credentials differ", "s1")]

    apply(db, [row])

    with db.session() as session:
        secret = Lifecycle().reveal_secret(session, installation_id=inst, actor="U0ADMIN01")
    assert (secret.client_key, secret.client_secret) == (KEY, SECRET)
    assert secret.origin is CredentialOrigin.SIMS_ID
    with db.read() as session:
        raw = session.execute(
            text("SELECT secret FROM credential WHERE installation_id = :i"), {"i": inst}
        ).scalar_one()
    assert SECRET not in raw  # only the vault's ciphertext reaches the database
    detail = audit_rows(db, inst)[-2].detail or ""
    assert KEY in detail and SECRET not in detail
    # The same key with another secret is a difference too.
    changed = row._replace(client_secret="t" * 43)
    assert kinds(db, [changed]) == [("credentials differ", "s1")]
    no_upstream(db)


def test_new_enabled_installation_takes_the_lists_credentials(db: Database) -> None:
    row = listed(enabled=True, client_key=KEY, client_secret=SECRET)
    assert kinds(db, [row]) == [("new", "s1"), ("credentials differ", "s1")]
    apply(db, [row])
    cred = credential(db, installation_id(db))
    assert cred is not None
    assert (cred.client_key, cred.secret, cred.origin) == (KEY, SECRET, CredentialOrigin.SIMS_ID)


# -- the guard, idempotence, races -------------------------------------------------


def test_more_removals_than_the_limit_are_refused_and_change_nothing(db: Database) -> None:
    for n in range(4):
        install(db, site=f"s{n}")
    before = audit_count(db)

    outcome = apply(db, [listed("new-one")], max_changes=3)

    assert outcome.status == "refused"
    assert "remove 4, disable 0 and approve 0" in (outcome.refused or "")
    assert audit_count(db) == before
    assert kinds(db, [listed("new-one")])[0] == ("new", "new-one")  # not created either

    assert apply(db, [listed("new-one")], max_changes=3, force=True).status == "applied"
    assert audit_count(db) == before + 5


@pytest.mark.parametrize(("word", "counts"), [(False, "disable 25"), (True, "approve 25")])
def test_a_list_that_disables_or_approves_many_is_refused_like_removals(
    db: Database, word: bool, counts: str
) -> None:
    """One list marking 25 enabled installations `no` disabled all 25 with no admin, and
    `yes` approved every pending one: only removals were counted against the limit."""
    sites = [f"s{n}" for n in range(25)]
    if word:
        factories.install_many(db, sites=[("app-hw", site) for site in sites])  # pending
    else:
        apply(db, [listed(site, enabled=True) for site in sites])  # new: not guarded
    before = audit_count(db)
    rows = [listed(site, enabled=word) for site in sites]

    outcome = apply(db, rows)  # the default limit, 10

    assert outcome.status == "refused"
    assert counts in (outcome.refused or "") and "limit of 10" in (outcome.refused or "")
    assert audit_count(db) == before
    assert {get(db, installation_id(db, site=s)).state for s in sites} == {
        State.PENDING if word else State.ENABLED
    }
    assert apply(db, rows, force=True).status == "applied"
    assert get(db, installation_id(db, site="s7")).state is (
        State.ENABLED if word else State.DISABLED
    )


def test_the_limit_counts_removals_disables_and_approvals_together(db: Database) -> None:
    for site in ("gone-1", "gone-2", "pending"):
        install(db, site=site)
    enabled = install(db, site="on")
    act(db, enabled, Action.APPROVE)
    rows = [listed("pending", enabled=True), listed("on", enabled=False)]

    refused = apply(db, rows, max_changes=3)
    applied = apply(db, rows, max_changes=4)

    assert refused.status == "refused"
    assert "remove 2, disable 1 and approve 1" in (refused.refused or "")
    assert applied.status == "applied" and get(db, enabled).state is State.DISABLED


def test_applying_twice_changes_nothing_the_second_time(db: Database) -> None:
    install(db, site="gone")
    act(db, install(db, site="off"), Action.APPROVE)
    rows = [
        listed("off", enabled=False),
        listed("on", enabled=True, client_key=KEY, client_secret=SECRET),
        listed("new", enabled=False),
    ]
    assert apply(db, rows).status == "applied"
    count = audit_count(db)
    outbox = len(outbox_rows(db))

    again = apply(db, rows)

    assert again.status == "in agreement"
    assert again.applied is not None and again.applied.total == 0
    assert (audit_count(db), len(outbox_rows(db))) == (count, outbox)
    assert dry(db, rows).status == "in agreement"


def test_a_change_made_meanwhile_wins_and_is_left_for_the_next_run(db: Database) -> None:
    inst = install(db)
    with db.read() as session:
        comparison = compare(session, [listed(enabled=True)])
    act(db, inst, Action.DISABLE)  # someone acts between comparison and apply

    with db.session() as session:
        applied = list_apply.reconcile(Lifecycle(), session, comparison)

    assert applied.total == 0 and [d.site_id for d in applied.skipped] == ["s1"]
    assert get(db, inst).state is State.DISABLED
    assert kinds(db, [listed(enabled=True)]) == [("approved in SIMS ID", "s1")]


def test_a_change_by_sims_id_withdraws_an_open_removal_request(db: Database) -> None:
    inst = install(db)
    two_person = Lifecycle(remove_approvals=2)
    with db.session() as session:
        two_person.act(
            session,
            installation_id=inst,
            action=Action.DISABLE,
            actor="U0ADMIN01",
            reason="billing",
        )
        asked = two_person.act(
            session,
            installation_id=inst,
            action=Action.REMOVE,
            actor="U0ADMIN01",
            reason="left the trust",
        )
    assert asked.step == "requested" and get(db, inst).removal_requested_by == "U0ADMIN01"

    apply(db, [listed(enabled=True)])

    row = get(db, inst)
    assert row.state is State.ENABLED
    assert (row.removal_requested_by, row.change_reason) == (None, None)
    assert [a.action for a in audit_rows(db, inst)][-2:] == [
        "approved_in_SIMS_ID",
        "removal_cancelled",
    ]


def test_a_change_by_sims_id_clears_a_void_removal_request_without_withdrawing_it(
    db: Database,
) -> None:
    """A void request (its requester lost admin rights) was audited when found void: the
    apply clears it, `removal_voided_at` too, with no second `removal_cancelled`."""
    inst = install(db)
    two_person = Lifecycle(remove_approvals=2)
    with db.session() as session:
        two_person.act(session, installation_id=inst, action=Action.DISABLE, actor="U0ADMIN01")
        two_person.act(
            session,
            installation_id=inst,
            action=Action.REMOVE,
            actor="U0ADMIN01",
            reason="left the trust",
        )
    with db.session() as session:
        void = two_person.confirm_removal(
            session,
            installation_id=inst,
            actor="U0ADMIN02",
            expected_version=get(db, inst).version,
            revoked={"U0ADMIN01"},
        )
    assert void.refusal == "requester_revoked" and get(db, inst).removal_voided_at is not None

    apply(db, [listed(enabled=True)])

    row = get(db, inst)
    assert row.state is State.ENABLED
    assert (row.removal_requested_by, row.removal_requested_at, row.removal_voided_at) == (
        None,
        None,
        None,
    )
    assert [a.action for a in audit_rows(db, inst)][-2:] == [
        "removal_cancelled",
        "approved_in_SIMS_ID",
    ]


@pytest.mark.parametrize("round_", range(3))
def test_two_applies_at_once_give_credentials_once(db_url: str, round_: int) -> None:
    """Two runs of one list at once, on PostgreSQL: both compared before either wrote, so
    the second deleted and inserted credentials behind the first (a duplicate key error,
    a traceback) or gave them twice (two audit rows each)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    first = Database(db_url)
    sites = [f"s{n}" for n in range(200)]
    for site in sites:
        act(first, install(first, site=site), Action.APPROVE)
    rows = [
        listed(site, enabled=True, client_key=f"ck_{n:024d}", client_secret=SECRET)
        for n, site in enumerate(sites)
    ]
    databases = [Database(db_url) for _ in range(2)]
    barrier = Barrier(2)

    def run(db: Database) -> str:
        barrier.wait(timeout=10)
        return apply(db, rows).status

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = sorted(pool.map(run, databases))
        assert statuses == ["applied", "in agreement"]
        with first.read() as session:
            given = session.scalar(
                select(func.count()).where(AuditEntry.action == "credentials_from_SIMS_ID")
            )
        assert given == len(sites)
    finally:
        for db in (first, *databases):
            db.dispose()

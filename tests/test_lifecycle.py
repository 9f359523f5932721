"""The installation lifecycle of docs/lifecycle.md, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from store import outbox
from store.db import Database
from store.lifecycle import (
    SIMS_ID,
    TRANSITIONS,
    Action,
    EventResult,
    EventType,
    Lifecycle,
    NotEnabled,
    NotFound,
    allowed_actions,
)
from store.models import (
    Application,
    AuditEntry,
    Credential,
    Installation,
    MessageStatus,
    OutboxItem,
    OutboxKind,
    Site,
    State,
)
from tests.factories import (
    ADMIN,
    act,
    at,
    audit_rows,
    event,
    get,
    install,
    kept_open,
    outbox_rows,
    register_app,
)

_kept_open = pytest.fixture(autouse=True)(kept_open)

P, E, D, R = State.PENDING, State.ENABLED, State.DISABLED, State.REMOVED

# The diagram, written out by hand rather than read back from TRANSITIONS.
LEGAL: dict[tuple[State, Action], State] = {
    (P, Action.APPROVE): E,
    (P, Action.DISABLE): D,  # decline
    (P, Action.REMOVE): R,
    (E, Action.DISABLE): D,
    (D, Action.ENABLE): E,
    (D, Action.REMOVE): R,
}
ILLEGAL = [(s, a) for s in State for a in Action if (s, a) not in LEGAL]

CLIENT_KEY = re.compile(r"^ck_[A-Za-z0-9_-]{24}$")
CLIENT_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(at(0))


@pytest.fixture
def lc(clock: Clock) -> Lifecycle:
    return Lifecycle(default_channel="C0DEFAULT", clock=clock)


def drive_to(db: Database, lc: Lifecycle, state: State, *, site: str = "s1") -> int:
    """A fresh installation brought to `state` by legal actions only."""
    iid = install(db, lc, site=site)
    path = {
        P: [],
        E: [Action.APPROVE],
        D: [Action.APPROVE, Action.DISABLE],
        R: [Action.DISABLE, Action.REMOVE],
    }[state]
    for action in path:
        assert act(db, iid, action, lifecycle=lc).applied
    assert get(db, iid).state == state
    return iid


def credential(db: Database, iid: int) -> Credential | None:
    with db.read() as session:
        found = session.get(Credential, iid)
        if found is not None:
            session.expunge(found)
        return found


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def snapshot(db: Database, iid: int) -> tuple[object, ...]:
    """Everything a refused action must leave untouched."""
    inst = get(db, iid)
    cred = credential(db, iid)
    return (
        inst.state,
        inst.version,
        inst.changed_at,
        inst.changed_by,
        None if cred is None else (cred.client_key, cred.secret),
        count(db, AuditEntry),
        [(o.id, o.generation, o.kind) for o in outbox_rows(db)],
    )


# -- the table itself -----------------------------------------------------------------


def test_transitions_table_is_the_diagram() -> None:
    table = {(s, a): t for a, moves in TRANSITIONS.items() for s, t in moves.items()}
    assert table == LEGAL
    assert allowed_actions(P) == [Action.APPROVE, Action.DISABLE, Action.REMOVE]
    assert allowed_actions(E) == [Action.DISABLE]
    assert allowed_actions(D) == [Action.ENABLE, Action.REMOVE]
    assert allowed_actions(R) == []


# -- Slack-side actions ---------------------------------------------------------------


def test_every_legal_transition(db: Database, lc: Lifecycle, clock: Clock) -> None:
    for (source, action), target in LEGAL.items():
        case = f"{source} --{action}-->"
        iid = drive_to(db, lc, source, site=f"{source}-{action}")
        before = get(db, iid)
        audits_before = audit_rows(db, iid)
        when = clock.advance(5)

        change = act(
            db, iid, action, lifecycle=lc, actor="U0CHANGER", expected_version=before.version
        )

        assert change.applied and change.refusal is None, case
        assert (change.previous, change.state) == (source, target), case
        assert change.version == before.version + 1, case
        assert change.changed_by == "U0CHANGER", case
        after = get(db, iid)
        assert (after.state, after.version) == (target, before.version + 1), case
        assert (after.changed_by, after.changed_at) == ("U0CHANGER", when), case
        new_audits = audit_rows(db, iid)[len(audits_before) :]
        assert len(new_audits) == 1, case
        row = new_audits[0]
        assert (row.action, row.actor, row.from_state, row.to_state, row.at) == (
            action.value,
            "U0CHANGER",
            source.value,
            target.value,
            when,
        ), case


def test_every_illegal_transition_is_refused_and_changes_nothing(
    db: Database, lc: Lifecycle
) -> None:
    assert len(ILLEGAL) == 10
    for source, action in ILLEGAL:
        case = f"{action} from {source}"
        iid = drive_to(db, lc, source, site=f"{source}-{action}")
        before = snapshot(db, iid)

        change = act(db, iid, action, lifecycle=lc)

        assert not change.applied, case
        assert change.refusal == "illegal", case
        assert change.state == source, case
        assert snapshot(db, iid) == before, case


def test_remove_straight_from_enabled_is_refused(db: Database, lc: Lifecycle) -> None:
    iid = drive_to(db, lc, E)
    key = credential(db, iid)
    change = act(db, iid, Action.REMOVE, lifecycle=lc)
    assert (change.applied, change.refusal, change.state) == (False, "illegal", E)
    assert get(db, iid).state == E
    cred = credential(db, iid)
    assert cred is not None and key is not None and cred.secret == key.secret is not None


def test_nothing_is_allowed_from_removed(db: Database, lc: Lifecycle) -> None:
    iid = drive_to(db, lc, R)
    before = snapshot(db, iid)
    for action in Action:
        change = act(db, iid, action, lifecycle=lc)
        assert (change.applied, change.refusal) == (False, "illegal")
    assert snapshot(db, iid) == before


def test_stale_expected_version_is_refused(db: Database, lc: Lifecycle) -> None:
    iid = install(db, lc)
    seen = get(db, iid).version
    assert act(
        db, iid, Action.APPROVE, lifecycle=lc, actor="U0FIRST", expected_version=seen
    ).applied
    before = snapshot(db, iid)

    # Someone who saw the pending message declines it after it was approved.
    change = act(db, iid, Action.DISABLE, lifecycle=lc, actor="U0LATE", expected_version=seen)

    assert (change.applied, change.refusal) == (False, "stale")
    # They are told what happened instead.
    assert (change.state, change.changed_by, change.version) == (E, "U0FIRST", seen + 1)
    assert snapshot(db, iid) == before


def test_stale_wins_over_illegal_when_the_version_moved(db: Database, lc: Lifecycle) -> None:
    """A late click on a button that is no longer valid is explained as someone else's change."""
    iid = install(db, lc)
    seen = get(db, iid).version
    assert act(db, iid, Action.REMOVE, lifecycle=lc).applied
    change = act(db, iid, Action.APPROVE, lifecycle=lc, expected_version=seen)
    assert (change.applied, change.refusal, change.state) == (False, "stale", R)


def test_unknown_installation_is_not_found(db: Database, lc: Lifecycle) -> None:
    with pytest.raises(NotFound):
        act(db, 999_999, Action.APPROVE, lifecycle=lc)
    with pytest.raises(NotFound), db.session() as session:
        lc.reveal_secret(session, installation_id=999_999, actor=ADMIN)


# -- SIMS ID events -------------------------------------------------------------------


def test_first_install_is_pending_and_audited(db: Database, lc: Lifecycle, clock: Clock) -> None:
    with db.session() as session:
        outcome = lc.apply_event(
            session,
            event(
                "app-hw",
                "s1",
                at=at(-30),
                id="evt_first",
                app_name="Homework Hub",
                site_name="Oakfield Primary",
                urn="123456",
                dfe="823/4001",
            ),
        )
    assert outcome is EventResult.ACCEPTED
    inst = get(db, install_id := _only_installation(db))
    assert (inst.state, inst.version, inst.created_at) == (P, 1, clock.now)
    assert inst.upstream_changed_at == at(-30)
    assert inst.message_status is MessageStatus.UNSENT
    [row] = audit_rows(db, install_id)
    assert (row.action, row.actor, row.from_state, row.to_state, row.detail) == (
        "installed",
        SIMS_ID,
        None,
        "pending",
        "evt_first",
    )
    assert credential(db, install_id) is None


def _only_installation(db: Database) -> int:
    with db.read() as session:
        [iid] = session.scalars(select(Installation.id)).all()
    assert iid is not None
    return iid


def test_site_uninstall_moves_any_state_to_removed(db: Database, lc: Lifecycle) -> None:
    for source in State:
        iid = drive_to(db, lc, source, site=f"uninstall-{source}")
        before = get(db, iid)
        audits_before = len(audit_rows(db, iid))

        with db.session() as session:
            outcome = lc.apply_event(
                session,
                event(
                    site=f"uninstall-{source}", type=EventType.REMOVED, at=at(60), id=f"rm-{source}"
                ),
            )

        assert outcome is EventResult.ACCEPTED, source
        after = get(db, iid)
        assert after.state == R, source
        assert after.upstream_changed_at == at(60), source
        new_audits = audit_rows(db, iid)[audits_before:]
        if source is R:
            assert after.version == before.version  # nothing to change
            assert new_audits == []
        else:
            assert after.version == before.version + 1, source
            assert after.changed_by == SIMS_ID, source
            [row] = new_audits
            assert (row.action, row.actor, row.from_state, row.to_state, row.detail) == (
                "uninstalled",
                SIMS_ID,
                source.value,
                "removed",
                f"rm-{source}",
            )
        cred = credential(db, iid)
        assert cred is None or cred.secret is None, source


def test_reinstall_after_removal_starts_a_new_pending_cycle(
    db: Database, lc: Lifecycle, clock: Clock
) -> None:
    iid = install(db, lc)
    first_created = get(db, iid).created_at
    assert act(db, iid, Action.APPROVE, lifecycle=lc).applied
    first = credential(db, iid)
    assert first is not None and first.secret is not None
    # The delivery code posted the message and sent a reminder in its time.
    with db.session() as session:
        inst = session.get(Installation, iid)
        assert inst is not None
        inst.message_status = MessageStatus.POSTED
        inst.message_channel = "C0APPCHAN"
        inst.message_ts = "1795770000.000100"
        inst.reminders_sent = 2
        session.add(inst)
    assert act(db, iid, Action.DISABLE, lifecycle=lc).applied
    assert act(db, iid, Action.REMOVE, lifecycle=lc).applied
    removed = credential(db, iid)
    assert removed is not None and removed.secret is None

    clock.advance(60 * 24)
    with db.session() as session:
        outcome = lc.apply_event(session, event(at=at(60 * 24), id="evt_again"))

    assert outcome is EventResult.ACCEPTED
    again = get(db, iid)
    assert again.id == iid
    assert again.state == P
    assert again.created_at == clock.now != first_created
    assert (again.message_status, again.message_channel, again.message_ts) == (
        MessageStatus.UNSENT,
        None,
        None,
    )
    assert again.reminders_sent == 0
    last = audit_rows(db, iid)[-1]
    assert (last.action, last.from_state, last.to_state) == ("reinstalled", "removed", "pending")

    assert act(db, iid, Action.APPROVE, lifecycle=lc).applied
    second = credential(db, iid)
    assert second is not None and second.secret is not None
    assert second.client_key == first.client_key
    assert second.secret != first.secret
    assert CLIENT_SECRET.match(second.secret)


def test_repeated_install_of_a_live_installation_changes_nothing(
    db: Database, lc: Lifecycle
) -> None:
    iid = drive_to(db, lc, E)
    before = get(db, iid)
    with db.session() as session:
        outcome = lc.apply_event(session, event(at=at(10), id="evt_repeat"))
    assert outcome is EventResult.ACCEPTED
    after = get(db, iid)
    assert (after.state, after.version) == (E, before.version)
    assert audit_rows(db, iid)[-1].action == "install_repeated"


def test_bypass_auth_app_is_enabled_at_once(db: Database, clock: Clock) -> None:
    lc = Lifecycle(default_channel="C0DEFAULT", clock=clock, upstream=True)
    register_app(db, "app-fast", "Fast Track", bypass=True)

    iid = install(db, lc, app="app-fast")

    inst = get(db, iid)
    assert inst.state == E
    cred = credential(db, iid)
    assert cred is not None and cred.secret is not None
    assert CLIENT_KEY.match(cred.client_key) and CLIENT_SECRET.match(cred.secret)
    rows = audit_rows(db, iid)
    assert [(r.action, r.actor, r.from_state, r.to_state) for r in rows] == [
        ("installed", SIMS_ID, None, "pending"),
        ("auto_enabled", SIMS_ID, "pending", "enabled"),
    ]
    [message] = outbox_rows(db, iid, OutboxKind.MESSAGE)
    assert message.done_at is None
    [decision] = outbox_rows(db, iid, OutboxKind.UPSTREAM)
    assert decision.payload is not None
    assert decision.payload["type"] == "installation.enabled"
    assert decision.payload["client_key"] == cred.client_key
    with db.session() as session:
        shown = lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
    assert shown.client_secret == cred.secret


def test_duplicate_event_changes_nothing(db: Database, lc: Lifecycle) -> None:
    iid = install(db, lc)
    with db.session() as session:
        assert lc.apply_event(session, event(type=EventType.REMOVED, at=at(5), id="evt_dup")) is (
            EventResult.ACCEPTED
        )
    before = snapshot(db, iid)

    with db.session() as session:
        outcome = lc.apply_event(session, event(type=EventType.REMOVED, at=at(5), id="evt_dup"))
    assert outcome is EventResult.DUPLICATE
    # Even a different body under the same id is the same event.
    with db.session() as session:
        outcome = lc.apply_event(session, event(type=EventType.CREATED, at=at(9), id="evt_dup"))
    assert outcome is EventResult.DUPLICATE
    assert snapshot(db, iid) == before


def test_older_event_is_stale_audited_and_changes_nothing(db: Database, lc: Lifecycle) -> None:
    iid = install(db, lc, at=at(10))
    before = snapshot(db, iid)

    with db.session() as session:
        outcome = lc.apply_event(session, event(type=EventType.REMOVED, at=at(5), id="evt_old"))

    assert outcome is EventResult.STALE
    inst = get(db, iid)
    assert (inst.state, inst.version, inst.upstream_changed_at) == (P, 1, at(10))
    last = audit_rows(db, iid)[-1]
    assert (last.action, last.actor, last.from_state, last.to_state) == (
        "stale_event",
        SIMS_ID,
        "pending",
        None,
    )
    assert "evt_old" in (last.detail or "")
    state, version, changed_at, changed_by, cred, audits, outboxes = before
    assert snapshot(db, iid) == (state, version, changed_at, changed_by, cred, audits + 1, outboxes)


def test_an_older_event_leaves_the_sites_name_and_numbers_alone(
    db: Database, lc: Lifecycle
) -> None:
    """A stale event "changes nothing": its site labels, older than the stored ones, were
    written all the same."""
    install(db, lc, at=at(10), site_name="New Name", urn="222222", dfe="222/2222")
    with db.session() as session:
        stale = event(type=EventType.REMOVED, at=at(5), site_name="Old Name", urn="111111")
        assert lc.apply_event(session, stale) is EventResult.STALE
    with db.read() as session:
        site = session.get(Site, "s1")
        assert site is not None
        assert (site.name, site.urn, site.dfe_number) == ("New Name", "222222", "222/2222")


def test_removed_before_created_then_older_created_is_stale(db: Database, lc: Lifecycle) -> None:
    with db.session() as session:
        outcome = lc.apply_event(session, event(type=EventType.REMOVED, at=at(10), id="evt_rm"))
    assert outcome is EventResult.ACCEPTED
    iid = _only_installation(db)
    assert get(db, iid).state == R
    assert [(r.action, r.to_state) for r in audit_rows(db, iid)] == [("uninstalled", "removed")]

    with db.session() as session:
        outcome = lc.apply_event(session, event(type=EventType.CREATED, at=at(5), id="evt_mk"))

    assert outcome is EventResult.STALE
    assert get(db, iid).state == R
    assert [r.action for r in audit_rows(db, iid)] == ["uninstalled", "stale_event"]
    assert outbox_rows(db, iid, OutboxKind.MESSAGE) == []

    # A genuinely later install still starts a cycle.
    with db.session() as session:
        outcome = lc.apply_event(session, event(type=EventType.CREATED, at=at(20)))
    assert outcome is EventResult.ACCEPTED
    assert get(db, iid).state == P


def test_events_update_site_labels_but_not_the_key(db: Database, lc: Lifecycle) -> None:
    iid = install(db, lc, urn="100001", dfe="111/2222", site_name="Old Name")
    with db.session() as session:
        lc.apply_event(
            session,
            event(
                type=EventType.REMOVED, at=at(1), site_name="New Name", urn="100001", dfe="999/2222"
            ),
        )
    with db.read() as session:
        row = session.execute(
            text("SELECT name, urn, dfe_number FROM site WHERE id = :id"), {"id": "s1"}
        ).one()
    assert tuple(row) == ("New Name", "100001", "999/2222")
    assert get(db, iid).site_id == "s1"


# -- atomicity -----------------------------------------------------------------------


def test_change_and_audit_roll_back_together(db: Database, lc: Lifecycle) -> None:
    iid = install(db, lc)
    before = snapshot(db, iid)

    with pytest.raises(RuntimeError, match="after the change"), db.session() as session:
        change = lc.act(session, installation_id=iid, action=Action.APPROVE, actor=ADMIN)
        assert change.applied
        session.flush()  # the change and its audit row are written, not yet committed
        raise RuntimeError("after the change")

    assert snapshot(db, iid) == before
    assert credential(db, iid) is None


def test_secret_view_audit_rolls_back_with_its_transaction(db: Database, lc: Lifecycle) -> None:
    iid = drive_to(db, lc, E)
    audits = len(audit_rows(db, iid))
    with pytest.raises(RuntimeError), db.session() as session:
        lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
        raise RuntimeError("reply failed")
    assert len(audit_rows(db, iid)) == audits


@pytest.fixture
def audit_refused(db: Database) -> Iterator[None]:
    """A database that refuses every new audit row, as a full disk or a bad grant would."""
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entry "
                "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
        try:
            yield
        finally:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP TRIGGER refuse_audit")
        return
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entry "
            "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
        )
    try:
        yield
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER refuse_audit ON audit_entry")
            conn.exec_driver_sql("DROP FUNCTION refuse_audit()")


def test_a_refused_audit_row_means_no_change(
    db: Database, lc: Lifecycle, request: pytest.FixtureRequest
) -> None:
    iid = drive_to(db, lc, E)
    before = snapshot(db, iid)
    request.getfixturevalue("audit_refused")

    with pytest.raises(Exception, match="audit refused"), db.session() as session:
        lc.act(session, installation_id=iid, action=Action.DISABLE, actor=ADMIN)
    with pytest.raises(Exception, match="audit refused"), db.session() as session:
        lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
        pytest.fail("the secret was shown although its audit row could not be written")

    assert snapshot(db, iid) == before


# -- the outbox ----------------------------------------------------------------------


def test_message_rows_coalesce_per_installation(db: Database, lc: Lifecycle) -> None:
    iid = install(db, lc)
    [row] = outbox_rows(db, iid, OutboxKind.MESSAGE)
    assert (row.generation, row.channel, row.done_at) == (1, "C0DEFAULT", None)

    for generation, action in enumerate([Action.APPROVE, Action.DISABLE, Action.ENABLE], start=2):
        assert act(db, iid, action, lifecycle=lc).applied
        [row] = outbox_rows(db, iid, OutboxKind.MESSAGE)
        assert row.generation == generation
        assert row.done_at is None

    # Once delivered, the next change asks for a new delivery.
    with db.session() as session:
        [claimed] = outbox.claim_due(session, worker="w1", now=at(24 * 60))
        assert outbox.complete(session, claimed, now=at(24 * 60))
    assert act(db, iid, Action.DISABLE, lifecycle=lc).applied
    rows = outbox_rows(db, iid, OutboxKind.MESSAGE)
    assert len(rows) == 2
    assert rows[0].done_at is not None
    assert (rows[1].done_at, rows[1].generation) == (None, 1)
    # Refused actions ask for nothing.
    assert not act(db, iid, Action.DISABLE, lifecycle=lc).applied
    assert len(outbox_rows(db, iid, OutboxKind.MESSAGE)) == 2


def test_a_live_workers_heartbeat_keeps_its_claims_and_a_dead_ones_lapse(
    db: Database, lc: Lifecycle
) -> None:
    install(db, lc, site="s1")
    install(db, lc, site="s2")
    start = at(60)
    with db.session() as session:
        [live] = outbox.claim_due(session, worker="live", now=start, limit=1, claim_seconds=15)
        [dead] = outbox.claim_due(session, worker="dead", now=start, limit=1, claim_seconds=15)
    # The live worker's heartbeat, 10 s in; the dead one (SIGKILLed) renews nothing.
    with db.session() as session:
        assert (
            outbox.extend_claims(
                session, worker="live", now=start + timedelta(seconds=10), claim_seconds=15
            )
            == 1
        )
    # 16 s in: the dead worker's row is free for anyone, the live worker's is still its own.
    later = start + timedelta(seconds=16)
    with db.session() as session:
        taken = outbox.claim_due(session, worker="other", now=later, claim_seconds=15)
        assert [item.id for item in taken] == [dead.id]
        # A lapsed claim is not revived by a late heartbeat: someone else may hold it.
        assert outbox.extend_claims(session, worker="dead", now=later) == 0
    assert live.id != dead.id


def test_message_goes_to_the_applications_channel(db: Database, lc: Lifecycle) -> None:
    register_app(db, "app-ch", "Channelled")
    with db.session() as session:
        app = session.get(Application, "app-ch")
        assert app is not None
        app.channel = "C0APPCHAN"
        session.add(app)
    iid = install(db, lc, app="app-ch")
    [row] = outbox_rows(db, iid, OutboxKind.MESSAGE)
    assert row.channel == "C0APPCHAN"


def test_one_upstream_decision_per_change(db: Database, clock: Clock) -> None:
    lc = Lifecycle(default_channel="C0DEFAULT", clock=clock, upstream=True)
    iid = install(db, lc, urn="123456", dfe="823/4001", site_name="Oakfield Primary")
    assert outbox_rows(db, iid, OutboxKind.UPSTREAM) == []  # pending is not a decision

    secrets_seen: list[str] = []
    expected = []
    for action in [Action.APPROVE, Action.DISABLE, Action.ENABLE, Action.DISABLE, Action.REMOVE]:
        clock.advance(1)
        change = act(db, iid, action, lifecycle=lc, actor="U0DECIDER")
        assert change.applied
        expected.append((f"installation.{change.state}", clock.now))
        cred = credential(db, iid)
        if cred is not None and cred.secret is not None:
            secrets_seen.append(cred.secret)
    assert not act(db, iid, Action.ENABLE, lifecycle=lc).applied  # refused: no decision

    rows = outbox_rows(db, iid, OutboxKind.UPSTREAM)
    assert len(rows) == len(expected)
    cred = credential(db, iid)
    assert cred is not None and secrets_seen
    ids = set()
    for row, (kind, when) in zip(rows, expected, strict=True):
        payload = row.payload
        assert payload is not None
        assert payload["type"] == kind
        assert payload["id"].startswith("dec_")
        ids.add(payload["id"])
        assert payload["occurred_at"] == when.isoformat().replace("+00:00", "Z")
        assert payload["actor"] == {"slack_user": "U0DECIDER"}
        assert payload["application"] == {"id": "app-hw", "name": "App app-hw"}
        assert payload["site"] == {
            "id": "s1",
            "name": "Oakfield Primary",
            "urn": "123456",
            "dfe_number": "823/4001",
        }
        assert payload["client_key"] == cred.client_key
        body = json.dumps(payload)
        assert "secret" not in body.lower()
        for secret in secrets_seen:
            assert secret not in body
    assert len(ids) == len(rows)  # idempotency keys are unique


def test_site_uninstall_sends_a_decision_from_sims_id(db: Database, clock: Clock) -> None:
    lc = Lifecycle(default_channel="C0DEFAULT", clock=clock, upstream=True)
    iid = drive_to(db, lc, E)
    with db.session() as session:
        lc.apply_event(session, event(type=EventType.REMOVED, at=at(30)))
    last = outbox_rows(db, iid, OutboxKind.UPSTREAM)[-1]
    assert last.payload is not None
    assert last.payload["type"] == "installation.removed"
    assert "slack_user" not in last.payload["actor"]


def test_without_upstream_no_decisions_are_queued(db: Database, lc: Lifecycle) -> None:
    iid = drive_to(db, lc, D)
    assert outbox_rows(db, iid, OutboxKind.UPSTREAM) == []


def test_notify_false_queues_nothing(db: Database, clock: Clock) -> None:
    lc = Lifecycle(default_channel="C0DEFAULT", clock=clock, upstream=True)
    register_app(db, "app-fast", "Fast Track", bypass=True)
    plain = install(db, lc, notify=False)
    fast = install(db, lc, app="app-fast", notify=False)
    with db.session() as session:
        lc.apply_event(session, event(site="s1", type=EventType.REMOVED, at=at(5)), notify=False)

    assert get(db, plain).state == R
    assert get(db, fast).state == E
    assert get(db, fast).message_status is MessageStatus.SILENT
    with db.read() as session:
        assert session.scalars(select(OutboxItem)).all() == []
    # It was still audited.
    assert [r.action for r in audit_rows(db, fast)] == ["installed", "auto_enabled"]
    assert [r.action for r in audit_rows(db, plain)] == ["installed", "uninstalled"]


# -- secrets -------------------------------------------------------------------------


def test_secret_lifecycle(db: Database, lc: Lifecycle) -> None:
    iid = install(db, lc)
    assert credential(db, iid) is None
    with pytest.raises(NotEnabled) as refused, db.session() as session:
        lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
    assert refused.value.state == P

    assert act(db, iid, Action.APPROVE, lifecycle=lc).applied
    first = credential(db, iid)
    assert first is not None and first.secret is not None
    assert CLIENT_KEY.match(first.client_key), first.client_key
    assert CLIENT_SECRET.match(first.secret), first.secret

    assert act(db, iid, Action.DISABLE, lifecycle=lc).applied
    kept = credential(db, iid)
    assert kept is not None and (kept.client_key, kept.secret) == (first.client_key, first.secret)
    with pytest.raises(NotEnabled) as refused, db.session() as session:
        lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
    assert refused.value.state == D

    assert act(db, iid, Action.ENABLE, lifecycle=lc).applied
    reused = credential(db, iid)
    assert reused is not None
    assert (reused.client_key, reused.secret) == (first.client_key, first.secret)

    assert act(db, iid, Action.DISABLE, lifecycle=lc).applied
    assert act(db, iid, Action.REMOVE, lifecycle=lc).applied
    gone = credential(db, iid)
    assert gone is not None and gone.secret is None
    with db.read() as session:
        raw = session.execute(
            text("SELECT secret FROM credential WHERE installation_id = :i"), {"i": iid}
        ).scalar_one()
    assert raw is None
    with pytest.raises(NotEnabled) as refused, db.session() as session:
        lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
    assert refused.value.state == R
    assert "secret_viewed" not in [r.action for r in audit_rows(db, iid)]


def test_each_installation_gets_its_own_credentials(db: Database, lc: Lifecycle) -> None:
    creds = []
    for site in ("s1", "s2", "s3"):
        iid = drive_to(db, lc, E, site=site)
        cred = credential(db, iid)
        assert cred is not None
        creds.append(cred)
    assert len({c.client_key for c in creds}) == 3
    assert len({c.secret for c in creds}) == 3


def test_reveal_secret_is_audited(db: Database, lc: Lifecycle, clock: Clock) -> None:
    iid = drive_to(db, lc, E)
    stored = credential(db, iid)
    assert stored is not None
    clock.advance(3)

    with db.session() as session:
        shown = lc.reveal_secret(session, installation_id=iid, actor="U0VIEWER")

    assert (shown.client_key, shown.client_secret) == (stored.client_key, stored.secret)
    last = audit_rows(db, iid)[-1]
    assert (last.action, last.actor, last.from_state, last.to_state, last.at) == (
        "secret_viewed",
        "U0VIEWER",
        "enabled",
        None,
        clock.now,
    )
    assert stored.secret not in (last.detail or "")
    inst = get(db, iid)
    assert (inst.state, inst.version) == (E, 2)  # viewing is not a change

"""Reasons and the two-person rule for Remove, in the lifecycle, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from store.db import Database
from store.lifecycle import SIMS_ID, Action, Lifecycle
from store.lifecycle.domain import open_request
from store.models import (
    REMOVAL_REQUEST_OPEN,
    AuditEntry,
    Installation,
    OutboxItem,
    OutboxKind,
    RemovalRequestStatus,
    State,
    removal_request_status,
)
from store.queries import VoidRemoval
from tests.factories import ADMIN, act, at, audit_rows, get, install, kept_open

_kept_open = pytest.fixture(autouse=True)(kept_open)

OTHER = "U0OTHER"


def _disabled(db: Database, lifecycle: Lifecycle) -> int:
    iid = install(db, lifecycle)
    assert act(db, iid, Action.APPROVE, lifecycle=lifecycle).applied
    with db.session() as session:
        change = lifecycle.act(
            session, installation_id=iid, action=Action.DISABLE, actor=ADMIN, reason=" billing "
        )
    assert change.applied and change.reason == "billing"
    return iid


def _upstream_payloads(db: Database, iid: int) -> list[dict]:
    with db.read() as session:
        rows = session.scalars(
            select(OutboxItem)
            .where(OutboxItem.installation_id == iid, OutboxItem.kind == OutboxKind.UPSTREAM)
            .order_by(OutboxItem.id)  # type: ignore[arg-type]
        ).all()
    return [dict(r.payload or {}) for r in rows]


def test_a_reason_is_kept_with_the_change_and_sent_upstream(db: Database) -> None:
    lifecycle = Lifecycle(upstream=True)
    iid = _disabled(db, lifecycle)
    last = audit_rows(db, iid)[-1]
    assert (last.action, last.reason, last.to_state) == ("disable", "billing", "disabled")
    assert get(db, iid).change_reason == "billing"
    assert [(p["type"], p["reason"]) for p in _upstream_payloads(db, iid)] == [
        ("installation.enabled", None),
        ("installation.disabled", "billing"),
    ]
    # The next change has its own reason, or none.
    assert act(db, iid, Action.ENABLE, lifecycle=lifecycle).applied
    assert get(db, iid).change_reason is None


def test_one_approval_removes_at_once(db: Database) -> None:
    lifecycle = Lifecycle()
    iid = _disabled(db, lifecycle)
    with db.session() as session:
        change = lifecycle.act(
            session, installation_id=iid, action=Action.REMOVE, actor=ADMIN, reason="gone"
        )
    assert change.applied and change.state is State.REMOVED and change.step is None
    assert audit_rows(db, iid)[-1].reason == "gone"


def _request(db: Database, lifecycle: Lifecycle, iid: int, reason: str | None = "dup"):
    with db.session() as session:
        return lifecycle.act(
            session,
            installation_id=iid,
            action=Action.REMOVE,
            actor=ADMIN,
            expected_version=get(db, iid).version,
            reason=reason,
        )


def test_two_approvals_remove_is_a_request_another_admin_confirms(db: Database) -> None:
    lifecycle = Lifecycle(upstream=True, remove_approvals=2)
    iid = _disabled(db, lifecycle)
    version = get(db, iid).version

    assert _request(db, lifecycle, iid, reason="  ").refusal == "reason_required"
    change = _request(db, lifecycle, iid)
    assert change.applied and change.step == "requested"
    assert change.state is State.DISABLED and change.removal_requested_by == ADMIN
    inst = get(db, iid)
    assert (inst.state, inst.version) == (State.DISABLED, version + 1)
    assert (inst.removal_requested_by, inst.removal_reason) == (ADMIN, "dup")
    assert inst.removal_requested_at is not None
    row = audit_rows(db, iid)[-1]
    assert (row.actor, row.action, row.reason, row.to_state) == (
        ADMIN,
        "remove_requested",
        "dup",
        None,
    )
    # A request is not a decision: nothing more goes upstream yet.
    assert len(_upstream_payloads(db, iid)) == 2
    # Asking again is refused: it is asked already.
    assert _request(db, lifecycle, iid).refusal == "requested"

    with db.session() as session:
        own = lifecycle.confirm_removal(
            session, installation_id=iid, actor=ADMIN, expected_version=inst.version
        )
    assert own.refusal == "own_request" and get(db, iid).state is State.DISABLED
    with db.session() as session:
        done = lifecycle.confirm_removal(
            session, installation_id=iid, actor=OTHER, expected_version=inst.version
        )
    assert done.applied and done.step == "confirmed" and done.state is State.REMOVED
    inst = get(db, iid)
    assert inst.removal_requested_by is None and inst.change_reason == "dup"
    row = audit_rows(db, iid)[-1]
    assert (row.actor, row.action, row.reason) == (OTHER, "remove", "dup")
    assert row.detail == f"requested by {ADMIN}"
    assert [(p["type"], p["reason"]) for p in _upstream_payloads(db, iid)][-1] == (
        "installation.removed",
        "dup",
    )
    assert p_actor(_upstream_payloads(db, iid)[-1]) == OTHER


def p_actor(payload: dict) -> str:
    return str(payload["actor"]["slack_user"])


def test_a_request_can_be_cancelled_by_anyone_and_confirmed_by_nobody_after(
    db: Database,
) -> None:
    lifecycle = Lifecycle(remove_approvals=2)
    iid = _disabled(db, lifecycle)
    _request(db, lifecycle, iid)
    asked = get(db, iid).version
    with db.session() as session:
        cancelled = lifecycle.cancel_removal(
            session, installation_id=iid, actor=ADMIN, expected_version=asked
        )
    assert cancelled.applied and cancelled.step == "cancelled"
    inst = get(db, iid)
    assert inst.removal_requested_by is None and inst.version == asked + 1
    assert audit_rows(db, iid)[-1].action == "removal_cancelled"
    with db.session() as session:
        late = lifecycle.confirm_removal(
            session, installation_id=iid, actor=OTHER, expected_version=asked
        )
        none = lifecycle.confirm_removal(
            session, installation_id=iid, actor=OTHER, expected_version=inst.version
        )
    assert late.refusal == "stale" and none.refusal == "no_request"
    assert get(db, iid).state is State.DISABLED


def test_any_change_of_state_withdraws_the_request(db: Database) -> None:
    lifecycle = Lifecycle(remove_approvals=2)
    iid = _disabled(db, lifecycle)
    _request(db, lifecycle, iid)
    asked = get(db, iid).version
    change = act(db, iid, Action.ENABLE, lifecycle=lifecycle, actor=OTHER, expected_version=asked)
    assert change.applied
    inst = get(db, iid)
    assert inst.removal_requested_by is None and inst.removal_reason is None
    rows = audit_rows(db, iid)
    assert [r.action for r in rows[-2:]] == ["enable", "removal_cancelled"]
    assert rows[-1].actor == OTHER and "withdrawn" in (rows[-1].detail or "")
    with db.session() as session:
        late = lifecycle.confirm_removal(
            session, installation_id=iid, actor=OTHER, expected_version=inst.version
        )
    assert late.refusal == "no_request"


def test_two_admins_confirming_at_once_remove_once(db: Database) -> None:
    lifecycle = Lifecycle(remove_approvals=2)
    iid = _disabled(db, lifecycle)
    _request(db, lifecycle, iid)
    version = get(db, iid).version
    with db.session() as first, db.session() as second:
        a = lifecycle.confirm_removal(
            first, installation_id=iid, actor=OTHER, expected_version=version
        )
        first.commit()
        b = lifecycle.confirm_removal(
            second, installation_id=iid, actor="U0THIRD", expected_version=version
        )
    assert a.applied and not b.applied
    with db.read() as session:
        removes = session.scalars(
            select(AuditEntry).where(
                AuditEntry.installation_id == iid, AuditEntry.action == "remove"
            )
        ).all()
    assert len(removes) == 1


def test_a_request_whose_requester_lost_admin_rights_is_void(db: Database) -> None:
    """The confirming admin's side says the requester is no longer an admin
    (`revoked`): the request is kept as void, nothing is removed or sent upstream, and
    only a fresh request can lead to a removal."""
    from store import queries

    lifecycle = Lifecycle(upstream=True, remove_approvals=2)
    iid = _disabled(db, lifecycle)
    _request(db, lifecycle, iid)
    asked = get(db, iid).version
    with db.session() as session:
        void = lifecycle.confirm_removal(
            session, installation_id=iid, actor=OTHER, expected_version=asked, revoked={ADMIN}
        )
    assert not void.applied and void.refusal == "requester_revoked"
    assert void.removal_requested_by == ADMIN and void.state is State.DISABLED
    inst = get(db, iid)
    assert (inst.state, inst.version) == (State.DISABLED, asked + 1)
    assert (inst.removal_requested_by, inst.removal_reason) == (ADMIN, "dup")
    assert inst.removal_voided_at is not None and open_request(inst) is None  # never confirmed
    row = audit_rows(db, iid)[-1]
    assert (row.actor, row.action) == (OTHER, "removal_cancelled")
    assert row.detail == f"request by {ADMIN} void: no longer an admin"
    assert len(_upstream_payloads(db, iid)) == 2  # nothing more upstream
    with db.read() as session:
        info = queries.installation(session, iid)
        assert queries.removal_requests(session, limit=10) == []
    assert info is not None and info.removal is None
    assert info.void_removal is not None and info.void_removal.requested_by == ADMIN
    with db.session() as session:
        again = lifecycle.confirm_removal(
            session, installation_id=iid, actor="U0THIRD", expected_version=inst.version
        )
    assert again.refusal == "no_request" and get(db, iid).state is State.DISABLED

    # A fresh request (by a current admin) replaces it; its confirmation removes.
    with db.session() as session:
        fresh = lifecycle.act(
            session,
            installation_id=iid,
            action=Action.REMOVE,
            actor=OTHER,
            expected_version=inst.version,
            reason="still dup",
        )
    assert fresh.applied and fresh.step == "requested"
    with db.session() as session:
        done = lifecycle.confirm_removal(
            session,
            installation_id=iid,
            actor="U0THIRD",
            expected_version=get(db, iid).version,
            revoked={ADMIN},  # the first requester's rights do not matter any more
        )
    assert done.applied and get(db, iid).state is State.REMOVED
    assert audit_rows(db, iid)[-1].detail == f"requested by {OTHER}"


def test_a_state_change_clears_a_void_request_without_withdrawing_it_again(
    db: Database,
) -> None:
    lifecycle = Lifecycle(remove_approvals=2)
    iid = _disabled(db, lifecycle)
    _request(db, lifecycle, iid)
    with db.session() as session:
        lifecycle.confirm_removal(
            session,
            installation_id=iid,
            actor=OTHER,
            expected_version=get(db, iid).version,
            revoked={ADMIN},
        )
    assert act(db, iid, Action.ENABLE, lifecycle=lifecycle, actor=OTHER).applied
    inst = get(db, iid)
    assert inst.removal_requested_by is None and inst.removal_reason is None
    assert [r.action for r in audit_rows(db, iid)[-2:]] == ["removal_cancelled", "enable"]


def test_a_void_request_keeps_its_time_and_is_void_by_its_own_column(db: Database) -> None:
    """Void is `removal_voided_at` (when a confirmation found it so), not a missing
    request time: the request keeps when it was made, and every reader still sees it
    void, the install message's query, the Home tab's list and the next confirmation."""
    from store import queries

    now = [at(0)]
    lifecycle = Lifecycle(remove_approvals=2, clock=lambda: now[0])
    iid = _disabled(db, lifecycle)
    now[0] = asked_at = at(10)
    assert _request(db, lifecycle, iid).step == "requested"
    now[0] = voided_at = at(20)
    with db.session() as session:
        void = lifecycle.confirm_removal(
            session,
            installation_id=iid,
            actor=OTHER,
            expected_version=get(db, iid).version,
            revoked={ADMIN},
        )
    assert void.refusal == "requester_revoked"
    inst = get(db, iid)
    assert (inst.removal_requested_at, inst.removal_voided_at) == (asked_at, voided_at)
    assert open_request(inst) is None
    with db.read() as session:
        info = queries.installation(session, iid)
        assert queries.removal_requests(session, limit=10) == []
    assert info is not None and info.removal is None
    assert info.void_removal == VoidRemoval(ADMIN, "dup")
    with db.session() as session:
        again = lifecycle.confirm_removal(
            session, installation_id=iid, actor="U0THIRD", expected_version=inst.version
        )
    assert again.refusal == "no_request" and get(db, iid).state is State.DISABLED

    # A fresh request over it is open again: no longer void.
    now[0] = fresh_at = at(30)
    with db.session() as session:
        fresh = lifecycle.act(
            session,
            installation_id=iid,
            action=Action.REMOVE,
            actor=OTHER,
            expected_version=inst.version,
            reason="still dup",
        )
    assert fresh.step == "requested"
    inst = get(db, iid)
    assert (inst.removal_requested_at, inst.removal_voided_at) == (fresh_at, None)
    assert open_request(inst) == OTHER


@pytest.mark.parametrize("requested", [False, True])
@pytest.mark.parametrize("voided", [False, True])
def test_the_open_request_is_the_same_in_python_and_in_sql(
    db: Database, requested: bool, voided: bool
) -> None:
    """removal_request_status and REMOVAL_REQUEST_OPEN (the listing and the reconcile
    apply) agree on every combination of the two times."""
    iid = install(db)
    with db.session() as session:
        session.execute(
            update(Installation)
            .where(col(Installation.id) == iid)
            .values(
                removal_requested_by=ADMIN,
                removal_requested_at=at(1) if requested else None,
                removal_voided_at=at(2) if voided else None,
            )
        )
    inst = get(db, iid)
    status = removal_request_status(inst.removal_requested_at, inst.removal_voided_at)
    with db.read() as session:
        in_sql = session.scalars(select(Installation.id).where(REMOVAL_REQUEST_OPEN)).all()
    assert (status is RemovalRequestStatus.OPEN) == (list(in_sql) == [iid])
    assert (status is RemovalRequestStatus.OPEN) == (requested and not voided)


def test_sims_id_removes_at_once_whatever_the_rule(db: Database) -> None:
    """The two-person rule binds people: a removal SIMS ID reports (reconcile) is not
    held for a second admin."""
    lifecycle = Lifecycle(remove_approvals=2)
    iid = _disabled(db, lifecycle)
    change = act(db, iid, Action.REMOVE, lifecycle=lifecycle, actor=SIMS_ID)
    assert change.applied and change.state is State.REMOVED and change.step is None


def test_latest_decisions_and_removal_requests_for_the_home_tab(db: Database) -> None:
    from store import queries

    lifecycle = Lifecycle(remove_approvals=2)
    first = _disabled(db, lifecycle)
    second = install(db, lifecycle, site="s2")
    _request(db, lifecycle, first)
    with db.read() as session:
        decisions = queries.latest_decisions(session, limit=10)
        requests = queries.removal_requests(session, limit=10)
    # Installs are not decisions; newest first, with their reasons.
    assert [(d.action, d.reason) for d in decisions] == [
        ("remove_requested", "dup"),
        ("disable", "billing"),
        ("approve", None),
    ]
    assert [r.id for r in requests] == [first] and second != first
    assert requests[0].removal is not None and requests[0].removal.reason == "dup"

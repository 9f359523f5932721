"""Deciding from a list (store/decide.py): reading it, the preview, applying the previewed set."""

from __future__ import annotations

import pytest

from store import decide
from store.db import Database
from store.lifecycle import Action, Lifecycle
from store.models import Application, OutboxKind, State
from tests.factories import ADMIN, act, audit_rows, get, install, outbox_rows

_OTHER = "U0ADMIN02"


def _app(db: Database, app_id: str = "app-hw") -> Application:
    with db.read() as session:
        app = session.get(Application, app_id)
        assert app is not None
        session.expunge(app)
        return app


def _preview(db: Database, text: str, action: Action = Action.APPROVE) -> decide.Preview:
    with db.read() as session:
        return decide.preview(session, _app(db), action, decide.parse_list(text))


def _apply(db: Database, pairs: list[tuple[int, int]], action: Action = Action.APPROVE):  # type: ignore[no-untyped-def]
    lifecycle = Lifecycle(upstream=True, default_channel="C0DEFAULT")
    with db.session() as session:
        return decide.apply(
            session,
            lifecycle,
            app=_app(db),
            action=action,
            pairs=pairs,
            actor=ADMIN,
            reason=None,
            now=lifecycle.clock(),
        )


def test_a_school_named_by_urn_and_by_dfe_number_matches_once(db: Database) -> None:
    one = install(db, site="a", urn="100001", dfe="823/4001")
    install(db, site="b", urn="100002", dfe="823/4002")

    seen = _preview(db, "100001\n8234001, 999999 100001")

    assert [m.installation_id for m in seen.eligible] == [one]
    assert seen.unmatched == ("999999",)
    assert [(d.identifier, d.of) for d in seen.duplicates] == [
        ("8234001", "100001"),
        ("100001", "100001"),
    ]


def test_a_match_not_pending_is_named_with_its_state(db: Database) -> None:
    enabled = install(db, site="a", urn="100001")
    act(db, enabled, Action.APPROVE)
    pending = install(db, site="b", urn="100002")

    seen = _preview(db, "100001 100002")

    assert [m.installation_id for m in seen.eligible] == [pending]
    assert [(m.installation_id, m.state) for m in seen.ineligible] == [(enabled, State.ENABLED)]


def test_a_change_between_preview_and_submit_is_skipped_and_named(db: Database) -> None:
    first = install(db, site="a", urn="100001", site_name="Alpha School")
    second = install(db, site="b", urn="100002", site_name="Beta School")
    seen = _preview(db, "100001\n100002")
    act(db, second, Action.DISABLE, actor=_OTHER)  # meanwhile, someone else

    done = _apply(db, seen.pairs)

    assert done.changed == 1
    assert done.skipped == [("Beta School", State.DISABLED)]
    assert get(db, first).state is State.ENABLED
    assert get(db, second).state is State.DISABLED
    row = audit_rows(db, first)[-1]
    assert (row.actor, row.action, row.detail) == (ADMIN, "approve", f"batch {done.batch}")
    [notice] = outbox_rows(db, kind=OutboxKind.NOTICE)
    assert notice.payload is not None and notice.channel == "C0DEFAULT"
    assert notice.payload["skipped"] == [["Beta School", "disabled"]]
    assert len(outbox_rows(db, first, kind=OutboxKind.UPSTREAM)) == 1


def test_another_applications_installation_is_never_changed(db: Database) -> None:
    install(db, site="a", urn="100001")
    other = install(db, app="app-other", site="a", urn="100001")

    done = _apply(db, [(other, get(db, other).version)])

    assert done.changed == 0
    assert get(db, other).state is State.PENDING


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("100001\n" + "9" * 10_000_000, "line 2: longer than"),
        (" ".join(str(100000 + i) for i in range(5001)), "line 1: more than 5,000"),
        ("100001\n<script>", "line 2: `<script>` is not"),
    ],
)
def test_a_list_that_cannot_be_read_names_its_line(text: str, line: str) -> None:
    with pytest.raises(decide.BadList, match=line):
        decide.parse_list(text)


def test_five_thousand_identifiers_are_read() -> None:
    assert len(decide.parse_list("\n".join(str(100000 + i) for i in range(5000)))) == 5000

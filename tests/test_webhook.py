"""`POST /simsid/events`: signatures, validation, idempotency, ordering, answers."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.app import BotApp
from bot.simsid import signing
from store.models import AuditEntry, Installation, ProcessedEvent, State
from tests.harness import Client, event_body, http


def _count(bot: BotApp, model: type) -> int:
    with bot.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_signature_vectors() -> None:
    body = b'{"id":"evt_1"}'
    header = signing.sign("s3cret", body, timestamp=1795770000)
    assert header == f"t=1795770000,v1={signing.signature('s3cret', 1795770000, body)}"
    assert signing.verify(header, body, ["other", "s3cret"], now=1795770100)
    assert not signing.verify(header, body, ["other"], now=1795770100)
    assert not signing.verify(header, body + b" ", ["s3cret"], now=1795770100)
    assert not signing.verify(header, body, ["s3cret"], now=1795770000 + 301)
    assert not signing.verify(header, body, ["s3cret"], now=1795770000 - 301)
    assert not signing.verify("v1=abc", body, ["s3cret"], now=1795770000)
    assert not signing.verify("t=1795770000", body, ["s3cret"], now=1795770000)
    assert not signing.verify(None, body, ["s3cret"])
    # Several v1 values (as while SIMS ID rotates secrets): any match is enough.
    good = signing.signature("s3cret", 1795770000, body)
    assert signing.verify(f"t=1795770000,v1=deadbeef,v1={good}", body, ["s3cret"], now=1795770000)
    # t is signed as the header spells it (leading zeros too), hex in any case.
    zero = signing.signature("s3cret", "01795770000", body)
    assert signing.verify(f"t=01795770000,v1={zero}", body, ["s3cret"], now=1795770000)
    assert not signing.verify(f"t=01795770000,v1={good}", body, ["s3cret"], now=1795770000)
    assert signing.verify(f"t=1795770000,v1={good.upper()}", body, ["s3cret"], now=1795770000)
    # A non-ASCII v1 (a header read as latin-1) is a wrong signature, not a TypeError.
    assert not signing.verify("t=1795770000,v1=\xe9abc", body, ["s3cret"], now=1795770000)
    assert signing.verify(f"t=1795770000,v1=\xe9,v1={good}", body, ["s3cret"], now=1795770000)


@pytest.mark.parametrize(
    ("sign", "why"),
    [
        ({"secret": "wrong"}, "wrong secret"),
        ({"timestamp": -310}, "stale"),
        ({"timestamp": +310}, "from the future"),
    ],
)
def test_bad_signatures_are_refused_and_change_nothing(
    served: Client, bot: BotApp, sign: dict, why: str
) -> None:
    if "timestamp" in sign:  # an offset from now, resolved when the test runs
        sign = {"timestamp": int(time.time()) + sign["timestamp"]}
    answer = served.send_event(event_body(event_id="evt_forged"), **sign)
    assert answer.status == 401, why
    assert _count(bot, Installation) == 0
    assert _count(bot, ProcessedEvent) == 0


def test_missing_signature_is_refused(served: Client, bot: BotApp) -> None:
    answer = http(
        "POST",
        f"{served.base}/simsid/events",
        event_body(event_id="evt_x"),
        {"Content-Type": "application/json"},
    )
    assert answer.status == 401
    assert _count(bot, Installation) == 0


def test_duplicate_event_id_is_acknowledged_once(served: Client, bot: BotApp) -> None:
    body = event_body(event_id="evt_dup")
    assert served.send_event(body).json() == {"status": "accepted"}
    second = served.send_event(body)
    assert (second.status, second.json()) == (200, {"status": "duplicate"})
    assert _count(bot, Installation) == 1
    assert _count(bot, AuditEntry) == 1


def test_older_event_is_acknowledged_audited_and_ignored(served: Client, bot: BotApp) -> None:
    now = datetime.now(UTC)
    assert (
        served.send_event(
            event_body(event_id="e2", type_="installation.removed", occurred_at=now)
        ).status
        == 202
    )
    late = served.send_event(event_body(event_id="e1", occurred_at=now - timedelta(minutes=5)))
    assert late.status == 202
    with bot.db.read() as session:
        inst = session.scalars(select(Installation)).one()
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert inst.state is State.REMOVED
    assert actions[-1] == "stale_event"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.pop("id"), "id"),
        (lambda e: e.update(type="installation.exploded"), "type"),
        (lambda e: e.update(occurred_at="yesterday"), "occurred_at"),
        (lambda e: e.update(occurred_at="2026-11-27T09:00:00"), "occurred_at"),
        (lambda e: e["site"].pop("id"), "site.id"),
        (lambda e: e["application"].update(name=""), "application.name"),
        (lambda e: e.update(application="Homework Hub"), "application"),
        (lambda e: e["site"].update(urn=123456), "site.urn"),
        # Valid ISO 8601 that leaves datetime's range once in UTC: a 400, not a 500.
        (lambda e: e.update(occurred_at="9999-12-31T23:59:59-01:00"), "occurred_at"),
        (lambda e: e.update(occurred_at="0001-01-01T00:00:00+01:00"), "occurred_at"),
        (lambda e: e["site"].update(id="   "), "site.id"),
        (lambda e: e["application"].update(name=" \t "), "application.name"),
        # A name is one line: a newline would draw fake "State" lines on the install message.
        (lambda e: e["site"].update(name="Oak\n*State*: Enabled"), "site.name"),
        (lambda e: e["site"].update(name="Oak\tAcademy"), "site.name"),
        (lambda e: e["application"].update(name="Hub\x1b[2J"), "application.name"),
        (lambda e: e["application"].update(name="Hub\x85Next"), "application.name"),  # C1
        # From the future: it would make every real event after it look older.
        (lambda e: e.update(occurred_at="9999-01-01T00:00:00Z"), "occurred_at"),
    ],
)
def test_bad_bodies_get_400_naming_the_field(served: Client, bot: BotApp, mutate, field) -> None:
    event = json.loads(event_body(event_id="evt_bad"))
    mutate(event)
    answer = served.send_event(json.dumps(event).encode())
    assert answer.status == 400
    assert answer.json()["error"].startswith(field), answer.json()
    assert _count(bot, Installation) == 0


def test_an_event_from_the_future_is_refused_and_cannot_freeze_an_installation(
    served: Client, bot: BotApp
) -> None:
    """An install dated 9999 made the real uninstall after it "older than the last
    change": ignored, with the client secret still live. It is refused instead."""
    now = datetime.now(UTC)
    for ahead in (timedelta(days=3000 * 365), timedelta(minutes=6)):
        future = served.send_event(event_body(event_id=f"evt_f{ahead}", occurred_at=now + ahead))
        assert future.status == 400, future
        error = future.json()["error"]
        assert error.startswith("occurred_at: ") and "5 minutes" in error, error
    assert _count(bot, Installation) == 0
    # Within five minutes ahead (clocks differ a little): accepted, and a later event applies.
    ahead = now + timedelta(minutes=4)
    soon = served.send_event(event_body(event_id="evt_soon", occurred_at=ahead))
    assert soon.status == 202, soon
    later = ahead + timedelta(seconds=1)
    gone = event_body(event_id="evt_gone", type_="installation.removed", occurred_at=later)
    assert served.send_event(gone).status == 202
    with bot.db.read() as session:
        assert session.scalars(select(Installation.state)).one() is State.REMOVED


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b"", b"\xff\xfe"])
def test_non_json_bodies_get_400(served: Client, body: bytes) -> None:
    answer = served.send_event(body)
    assert answer.status == 400
    assert "error" in answer.json()


def test_body_over_64_kib_gets_413(served: Client, bot: BotApp) -> None:
    event = json.loads(event_body(event_id="evt_big"))
    event["padding"] = "x" * (64 * 1024)
    assert served.send_event(json.dumps(event).encode()).status == 413
    assert _count(bot, Installation) == 0


def test_database_unavailable_gets_503_and_health_says_so(
    served: Client, bot: BotApp, tmp_path
) -> None:
    # Point the running app at a database file in a folder that no longer exists.
    from store.db import Database

    gone = tmp_path / "gone"
    gone.mkdir()
    broken = Database(f"sqlite:///{gone}/db.sqlite")
    gone.rmdir()
    bot.wsgi._db = broken  # the HTTP app's database handle
    bot.wsgi._webhook._committer.db = broken
    answer = served.install(event_id="evt_down")
    assert answer.status == 503
    assert "send again later" in answer.json()["error"]
    assert served.health().status == 503


def test_webhook_accepts_any_configured_secret(fake_slack, sqlite_url) -> None:
    from bot.app import create_app
    from tests import harness
    from tests.conftest import make_settings

    settings = make_settings(
        fake_slack,
        sqlite_url,
        simsid_webhook_secret="whsec_new_5d8e1a7c3b9f,whsec_old_2c6f0b4a8e1d",
    )
    app = create_app(settings)
    try:
        with harness.serving(app, deliver=False) as url:
            client = Client(url)
            assert (
                client.send_event(event_body(event_id="a"), secret="whsec_old_2c6f0b4a8e1d").status
                == 202
            )
            assert (
                client.send_event(event_body(event_id="b"), secret="whsec_new_5d8e1a7c3b9f").status
                == 202
            )
            assert (
                client.send_event(event_body(event_id="c"), secret="whsec_older_9a3e7c1f5b").status
                == 401
            )
    finally:
        app.db.dispose()

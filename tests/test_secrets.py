"""Client secrets stay secret: logs, database files, posts, upstream, rotation, stolen copies.

- A `serve` subprocess at LOG_LEVEL=DEBUG (text, then JSON lines) approves an installation
  and shows its secret to an admin: the secret is in that one private reply and nowhere
  else (stderr, the SQLite file and its WAL, channel posts, other replies, every Slack API
  call, the decisions sent upstream).
- Key rotation while clicks and approvals run: afterwards every stored secret decrypts
  with the new key alone, and no removed installation got its secret back.
- A copy of the database opened without the keys, or with another key, gives up no
  secret: VaultError, or ciphertext only.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot.sandbox.fake_slack import FakeSlack
from bot.slack.ids import ActionId
from store import vault
from store.db import Database
from store.keyring_check import check_keys, rotate_all
from store.lifecycle import Action, EventType, InstallEvent, Lifecycle, NotEnabled
from store.models import Credential, Installation, State
from tests import faultkit, harness, pgtools
from tests.conftest import TEST_KEY, require_postgres
from tests.faultkit import client_for
from tests.harness import CHANNEL, ServerProcess, buttons, install_and_wait
from tests.test_upstream import UPSTREAM_SECRET, Receiver

_SECRET = re.compile(r"`([A-Za-z0-9_-]{43})`")


@pytest.fixture
def keyring() -> Iterator[None]:
    """These tests change the process's keys; every other test expects TEST_KEY."""
    yield
    vault.configure([TEST_KEY])


def _approve(client: harness.Client, fs: FakeSlack, **fields: str) -> dict:
    message = install_and_wait(client, fs, **fields)
    client.click(ActionId.APPROVE, buttons(message)[ActionId.APPROVE], message_ts=message["ts"])
    assert fs.wait_for(
        lambda: set(buttons(fs.find_message(CHANNEL, message["ts"]) or {})) == {ActionId.DISABLE}
    )
    return message


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secret_is_only_in_the_private_reply(
    fake_slack: FakeSlack, tmp_path: Path, log_format: str
) -> None:
    db_path = tmp_path / "secrets.db"
    log = tmp_path / "serve.log"
    with Receiver() as upstream:
        env = harness.server_env(
            fake_slack.api_url,
            f"sqlite:///{db_path}",
            TEST_KEY,
            LOG_LEVEL="DEBUG",
            LOG_FORMAT=log_format,
            SIMSID_UPSTREAM_URL=upstream.url,
            SIMSID_UPSTREAM_SECRET=UPSTREAM_SECRET,
        )
        server = ServerProcess(env, "--no-scheduler", log_path=log)
        try:
            client = client_for(server.url, fake_slack)
            message = _approve(client, fake_slack)
            reply = client.slash("secret app-homework site-oak", response_name="the-secret")
            assert "ck_" not in reply.body.decode()  # the HTTP answer carries no secret
            assert fake_slack.wait_for(
                lambda: any(n == "the-secret" for n, _ in fake_slack.responses)
            )
            private = [b for n, b in fake_slack.responses if n == "the-secret"][-1]
            found = _SECRET.search(json.dumps(private))
            assert found is not None and private["response_type"] == "ephemeral"
            secret = found[1]
            # Show it again, disable, try to see it while disabled, enable, see it again:
            # every path that touches the credential.
            client.slash("secret homework oakfield", response_name="again")
            client.decide(
                fake_slack,
                ActionId.DISABLE,
                buttons(fake_slack.find_message(CHANNEL, message["ts"]) or {})[ActionId.DISABLE],
                message_ts=message["ts"],
            )
            assert fake_slack.wait_for(
                lambda: (
                    ActionId.ENABLE
                    in buttons(fake_slack.find_message(CHANNEL, message["ts"]) or {})
                )
            )
            not_enabled = client.private_reply(fake_slack, "secret app-homework site-oak")
            assert secret not in not_enabled
            client.click(
                ActionId.ENABLE,
                buttons(fake_slack.find_message(CHANNEL, message["ts"]) or {})[ActionId.ENABLE],
                message_ts=message["ts"],
            )
            assert fake_slack.wait_for(
                lambda: (
                    set(buttons(fake_slack.find_message(CHANNEL, message["ts"]) or {}))
                    == {ActionId.DISABLE}
                )
            )
            assert secret in client.private_reply(fake_slack, "secret app-homework site-oak")
            assert upstream.wait_for(lambda: len(upstream.stored) == 3)  # enable, disable, enable
            client.slash("audit homework oakfield", response_name="audit")
            # The files as they are while the server runs: the WAL holds the recent writes.
            on_disk = {
                suffix: Path(f"{db_path}{suffix}").read_bytes()
                for suffix in ("", "-wal", "-shm")
                if Path(f"{db_path}{suffix}").exists()
            }
        finally:
            assert server.terminate() == 0
        sent_upstream = b"".join(s.raw for s in upstream.seen)

    logs = faultkit.read_log(log)
    assert "DEBUG" in logs, "the server must really have logged at DEBUG"
    if log_format == "json":  # every line an object; tracebacks and all, in its fields
        lines = [json.loads(line) for line in logs.splitlines() if line.strip()]
        assert any(line["level"] == "DEBUG" for line in lines)
        # The raw lines and each field as read back, its escapes undone.
        logs += "\n".join(str(value) for line in lines for value in line.values())
    assert secret not in logs
    for other in (harness.SIGNING_SECRET, harness.WEBHOOK_SECRET, TEST_KEY, UPSTREAM_SECRET):
        assert other not in logs
    assert secret.encode() not in sent_upstream
    assert b"client_key" in sent_upstream  # the key travels; the secret never does

    assert "-wal" in on_disk
    for suffix in ("", "-wal", "-shm"):  # and again after the shutdown's checkpoint
        path = Path(f"{db_path}{suffix}")
        if path.exists():
            on_disk[f"{suffix} after exit"] = path.read_bytes()
    for name, data in on_disk.items():
        assert secret.encode() not in data, name

    assert secret not in str(fake_slack.all_posts())
    with fake_slack.lock:
        calls = str(fake_slack.calls)
        # Replies sent later through response_url; only the `secret` commands may show it.
        other_replies = str(
            [
                b
                for n, b in fake_slack.responses
                if n not in ("the-secret", "again") and not n.startswith("reply")
            ]
        )
    assert secret not in calls  # no Web API call carried it, not even chat.postEphemeral
    assert secret not in other_replies


# -- key rotation under load --------------------------------------------------------------


def _event(n: int, kind: EventType = EventType.CREATED, at: datetime | None = None) -> InstallEvent:
    return InstallEvent(
        id=f"evt_rot_{n}_{kind}_{random.random()}",
        type=kind,
        occurred_at=at or datetime.now(UTC),
        application_id="app-rot",
        application_name="Rotation App",
        site_id=f"site-{n}",
        site_name=f"School {n}",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rotation_db(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """SQLite, and a fresh PostgreSQL database (never the shared tables others truncate)."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    require_postgres()
    with pgtools.fresh_database("simsid_rot") as url:
        yield url


INSTALLS = 120


def test_rotation_while_clicks_run_loses_nothing(rotation_db: str, keyring: None) -> None:
    old, new = vault.generate_key(), vault.generate_key()
    vault.configure([old])
    lc = Lifecycle()
    db = Database(rotation_db)
    try:
        with db.session() as session:
            check_keys(session)  # the canary, under the old key
        for n in range(INSTALLS):
            with db.session() as session:
                lc.apply_event(session, _event(n), notify=False)
        with db.read() as session:
            ids = list(session.scalars(select(Installation.id).order_by(Installation.id)))  # type: ignore[arg-type]
        for iid in ids[: INSTALLS * 3 // 4]:
            with db.session() as session:
                assert lc.act(
                    session, installation_id=iid, action=Action.APPROVE, actor="U1"
                ).applied

        # Every process now runs with [new, old]; then `keys rotate` runs while people click.
        vault.configure([new, old])
        stop = threading.Event()
        errors: list[BaseException] = []

        def loop(work: Callable[[int], None], chosen: list[int]) -> Callable[[], None]:
            def run() -> None:
                try:
                    for iid in chosen:
                        work(iid)
                except BaseException as exc:  # reported by the main thread
                    errors.append(exc)

            return run

        def act(iid: int, *actions: Action) -> None:
            for action in actions:
                with db.session() as session:
                    lc.act(session, installation_id=iid, action=action, actor="U2")

        # From the highest id down: rotation goes up, so the two meet in the middle and
        # removes land on rows a rotation pass has read but not yet rewritten.
        remove = loop(lambda i: act(i, Action.DISABLE, Action.REMOVE), ids[: INSTALLS // 2][::-1])
        approve = loop(lambda i: act(i, Action.APPROVE), ids[INSTALLS * 3 // 4 :])
        flip = loop(
            lambda i: act(i, Action.DISABLE, Action.ENABLE), ids[INSTALLS // 2 : INSTALLS * 3 // 4]
        )

        def reveal(iid: int) -> None:
            with db.session() as session:
                inst = session.get(Installation, iid)
                if inst is not None and inst.state is State.ENABLED:
                    # A flip or remove may commit between the read and the reveal (read
                    # committed on PostgreSQL); the lifecycle then refuses, as it should.
                    with contextlib.suppress(NotEnabled):
                        lc.reveal_secret(session, installation_id=iid, actor="U3")

        peek = loop(reveal, ids)

        def rotations() -> None:
            try:
                while not stop.is_set():
                    with db.session() as session:
                        rotate_all(session)
                    # `keys rotate` run again and again; the pause lets SQLite's other
                    # writers in (it would otherwise grab the lock straight back).
                    stop.wait(0.05)
            except BaseException as exc:
                errors.append(exc)

        rotator = threading.Thread(target=rotations)
        rotator.start()
        workers = [threading.Thread(target=w) for w in (remove, approve, flip, peek)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        stop.set()
        rotator.join(60)
        # The operator's final `keys rotate`, once the rush is over, as the README says.
        with db.session() as session:
            rotate_all(session)
        assert not errors, errors

        # Only the new key from here on: every secret must still open.
        vault.configure([new])
        with db.session() as session:
            check_keys(session)
            rows = session.execute(
                select(Installation.id, Installation.state, Credential.secret).join(
                    Credential,
                    Credential.installation_id == Installation.id,
                    isouter=True,  # type: ignore[arg-type]
                )
            ).all()
        by_state: dict[State, int] = {}
        for iid, state, secret in rows:
            by_state[state] = by_state.get(state, 0) + 1
            if state in (State.ENABLED, State.DISABLED) and iid not in ids[: INSTALLS // 2]:
                assert secret is not None and len(secret) == 43, (iid, state)
            if state is State.REMOVED:
                # Rotation must not write back a secret that Remove destroyed meanwhile.
                assert secret is None, (iid, "secret came back after remove")
        assert by_state.get(State.REMOVED) == INSTALLS // 2
        assert by_state.get(State.ENABLED) == INSTALLS // 2
    finally:
        db.dispose()


# -- a stolen copy of the database ---------------------------------------------------------


def test_a_copy_of_the_database_without_the_key_yields_no_secret(
    fake_slack: FakeSlack, tmp_path: Path, keyring: None
) -> None:
    from bot.app import create_app
    from tests.conftest import make_settings

    url = f"sqlite:///{tmp_path / 'live.db'}"
    bot = create_app(make_settings(fake_slack, url))
    try:
        with harness.serving(bot) as base:
            client = client_for(base, fake_slack)
            _approve(client, fake_slack)
            found = _SECRET.search(client.private_reply(fake_slack, "secret app-homework site-oak"))
            assert found is not None
            secret = found[1]
        with bot.db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        bot.delivery.stop()
        bot.db.dispose()
    stolen = tmp_path / "stolen.db"
    shutil.copy(tmp_path / "live.db", stolen)

    # Raw bytes and raw SQL: a Fernet token, never the secret.
    assert secret.encode() not in stolen.read_bytes()
    with sqlite3.connect(stolen) as raw:
        [(token,)] = raw.execute("SELECT secret FROM credential").fetchall()
    assert token.startswith("gAAAA") and secret not in token

    copy = Database(f"sqlite:///{stolen}")
    try:
        # No keys at all.
        vault.keyring._fernet = None  # what a process that never configured keys has
        with pytest.raises(vault.VaultError), copy.read() as session:
            session.scalars(select(Credential)).all()
        # Another key.
        vault.configure([vault.generate_key()])
        with pytest.raises(vault.VaultError), copy.read() as session:
            session.scalars(select(Credential)).all()
        with pytest.raises(vault.VaultError), copy.read() as session:
            check_keys(session)
        with copy.read() as session:
            assert secret not in str(session.execute(text("SELECT * FROM credential")).all())
    finally:
        copy.dispose()

    # And the command line says which setting is wrong, exit 2, no traceback, no secret.
    env = harness.server_env(fake_slack.api_url, f"sqlite:///{stolen}", vault.generate_key())
    done = subprocess.run(
        [*harness.bot_command(), "apps", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SIMSID_ENCRYPTION_KEYS" in done.stderr and "Traceback" not in done.stderr
    assert secret not in done.stderr + done.stdout

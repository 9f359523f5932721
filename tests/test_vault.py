"""Secrets at rest: only Fernet tokens reach the database; keys rotate; wrong keys fail loudly."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text

from store import vault
from store.db import Database
from store.keyring_check import CANARY_KEY, CANARY_TEXT, check_keys, rotate_all
from store.lifecycle import Action, Lifecycle
from store.models import Credential
from tests.conftest import TEST_KEY
from tests.factories import ADMIN, act, install, kept_open

_kept_open = pytest.fixture(autouse=True)(kept_open)

FERNET_PREFIX = "gAAAAA"  # version byte 0x80 and a timestamp, base64url


@pytest.fixture(autouse=True)
def _restore_session_key() -> Iterator[None]:
    try:
        yield
    finally:
        vault.configure([TEST_KEY])


def enabled_installations(db: Database, n: int, *, prefix: str = "s") -> dict[int, str]:
    """`n` enabled installations; returns installation id -> its plaintext secret."""
    lc = Lifecycle(upstream=True, default_channel="C0DEFAULT")
    found: dict[int, str] = {}
    for i in range(n):
        iid = install(db, lc, site=f"{prefix}{i}")
        assert act(db, iid, Action.APPROVE, lifecycle=lc).applied
        with db.session() as session:
            found[iid] = lc.reveal_secret(session, installation_id=iid, actor=ADMIN).client_secret
    return found


def raw_tokens(db: Database) -> dict[int, str | None]:
    with db.read() as session:
        rows = session.execute(text("SELECT installation_id, secret FROM credential")).all()
    return {int(i): s for i, s in rows}


def raw_canary(db: Database) -> str | None:
    with db.read() as session:
        return session.execute(
            text("SELECT value FROM meta WHERE key = :k"), {"k": CANARY_KEY}
        ).scalar_one_or_none()


def test_sqlite_file_holds_no_plaintext_secret(sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    # An open reader keeps the write-ahead log from being checkpointed away on close, so
    # the newest pages are still in the -wal file when we read it.
    holder = sqlite3.connect(path)
    holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
    db = Database(sqlite_url)
    try:
        secrets = enabled_installations(db, 5)
        with db.session() as session:
            check_keys(session)
        tokens = raw_tokens(db)
        wal = path.with_name(path.name + "-wal")
        assert wal.exists(), "expected the write-ahead log to hold the latest pages"
        raw = path.read_bytes() + wal.read_bytes()
    finally:
        db.dispose()
        holder.close()

    for iid, secret in secrets.items():
        assert secret.encode() not in raw, "a plaintext secret reached the database file"
        token = tokens[iid]
        assert token is not None and token.startswith(FERNET_PREFIX)
        assert token.encode() in raw  # we did read the bytes the secrets live in
        assert Fernet(TEST_KEY.encode()).decrypt(token.encode()).decode() == secret
    assert CANARY_TEXT.encode() not in raw


def test_postgres_columns_hold_only_fernet_tokens(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        secrets = enabled_installations(db, 5)
        with db.session() as session:
            check_keys(session)
        tokens = raw_tokens(db)
        with db.read() as session:
            tables = session.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
            dumped = "\n".join(
                row
                for table in list(tables)
                for row in session.execute(
                    text(f"SELECT row_to_json(t)::text FROM {table} AS t")
                ).scalars()
            )
        canary = raw_canary(db)
    finally:
        db.dispose()

    assert canary is not None and canary.startswith(FERNET_PREFIX)
    assert CANARY_TEXT not in dumped
    for iid, secret in secrets.items():
        token = tokens[iid]
        assert token is not None and token.startswith(FERNET_PREFIX)
        assert Fernet(TEST_KEY.encode()).decrypt(token.encode()).decode() == secret
        assert secret not in dumped, "a plaintext secret is stored in some column"
        assert token in dumped


def test_rotation_moves_every_secret_to_the_new_key(db: Database) -> None:
    lc = Lifecycle(default_channel="C0DEFAULT")
    secrets = enabled_installations(db, 4)
    disabled, disabled_secret = next(iter(secrets.items()))
    assert act(db, disabled, Action.DISABLE, lifecycle=lc).applied
    removed = install(db, lc, site="gone")
    assert act(db, removed, Action.APPROVE, lifecycle=lc).applied
    assert act(db, removed, Action.DISABLE, lifecycle=lc).applied
    assert act(db, removed, Action.REMOVE, lifecycle=lc).applied
    with db.session() as session:
        check_keys(session)
    before = raw_tokens(db)
    canary_before = raw_canary(db)

    new_key = vault.generate_key()
    vault.configure([new_key, TEST_KEY])
    with db.session() as session:
        rotated = rotate_all(session, batch=2)  # more than one batch
    assert rotated == len(secrets)

    after = raw_tokens(db)
    assert after[removed] is None
    for iid in secrets:
        old_token, new_token = before[iid], after[iid]
        assert old_token is not None and new_token is not None and new_token != old_token
        with pytest.raises(InvalidToken):
            Fernet(TEST_KEY.encode()).decrypt(new_token.encode())
        assert Fernet(new_key.encode()).decrypt(new_token.encode()).decode() == secrets[iid]
    assert raw_canary(db) != canary_before

    # The old key can now be dropped.
    vault.configure([new_key])
    with db.session() as session:
        check_keys(session)
        for iid, secret in secrets.items():
            if iid == disabled:
                continue
            shown = lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
            assert shown.client_secret == secret
        kept = session.get(Credential, disabled)
        assert kept is not None and kept.secret == disabled_secret
    # A new secret is written under the new key.
    assert act(db, disabled, Action.ENABLE, lifecycle=lc).applied
    fresh = install(db, lc, site="fresh")
    assert act(db, fresh, Action.APPROVE, lifecycle=lc).applied
    token = raw_tokens(db)[fresh]
    assert token is not None
    Fernet(new_key.encode()).decrypt(token.encode())


def test_wrong_key_fails_loudly(db: Database) -> None:
    lc = Lifecycle(default_channel="C0DEFAULT")
    secrets = enabled_installations(db, 1)
    with db.session() as session:
        check_keys(session)  # first start: writes the canary with the right key
    with db.session() as session:
        check_keys(session)  # the right key reads it back

    vault.configure([vault.generate_key()])

    with pytest.raises(vault.VaultError), db.session() as session:
        check_keys(session)
    [iid] = secrets
    with pytest.raises(vault.VaultError), db.session() as session:
        lc.reveal_secret(session, installation_id=iid, actor=ADMIN)
    with pytest.raises(vault.VaultError), db.session() as session:
        rotate_all(session)
    vault.configure([TEST_KEY])
    assert raw_tokens(db)[iid] is not None
    with db.session() as session:
        assert (
            lc.reveal_secret(session, installation_id=iid, actor=ADMIN).client_secret
            == (secrets[iid])
        )


def test_no_keys_is_an_error() -> None:
    with pytest.raises(vault.VaultError):
        vault.configure([])
    # A process that never configured its keys cannot encrypt or decrypt anything.
    unconfigured = vault._Keyring()
    with pytest.raises(vault.VaultError):
        _ = unconfigured.fernet


def test_secret_formats_and_round_trip() -> None:
    key, secret = vault.new_client_key(), vault.new_client_secret()
    assert key.startswith("ck_") and len(key) == 27
    assert len(secret) == 43
    token = vault.encrypt(secret)
    assert token.startswith(FERNET_PREFIX) and secret not in token
    assert vault.decrypt(token) == secret
    with pytest.raises(vault.VaultError):
        vault.decrypt("not a token")


def test_two_processes_starting_on_a_fresh_database_both_start(db: Database) -> None:
    """Procfile's web and worker start together on a new database: both write the canary.
    The second insert waits on the first's lock, then must not fail on its key."""
    import threading

    first = db.session()
    first_session = first.__enter__()
    check_keys(first_session)  # written, not yet committed: the row is locked
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with db.session() as session:
                check_keys(session)
        except BaseException as exc:
            errors.append(exc)

    racer = threading.Thread(target=second)
    racer.start()
    racer.join(0.5)  # it is now waiting on the first's insert (or about to)
    first.__exit__(None, None, None)  # commit
    racer.join(30)
    assert not racer.is_alive()
    assert errors == []
    with db.session() as session:
        check_keys(session)  # and the canary both agreed on reads back

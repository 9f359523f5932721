"""`simsid-bot doctor` as an operator runs it: a subprocess against the Slack stand-in,
a real database, and local stand-ins for SIMS ID's list and the decisions' receiver.

Each ✗ is turned on with one switch of the stand-in (or one setting) and shows, named,
with its fix; everything else still holds.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.doctor import OPTIONAL_SCOPES, REQUIRED_SCOPES
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.run import Sandbox
from bot.sandbox.workspace import (
    ADMIN,
    DEFAULT_CHANNEL,
    PORTAL_CHANNEL,
    SECOND_ADMIN,
    register_examples,
)
from store import migrate, vault
from store.db import Database
from store.keyring_check import check_keys
from store.models import OutboxItem, OutboxKind, utcnow
from testing.list_server import ListServer
from tests import harness
from tests.conftest import TEST_KEY

REPO = Path(__file__).resolve().parents[1]
GROUP = "SADMINS"
UPSTREAM_SECRET = "upstream-7c1e9a3f5b2d4e60a8"
RECONCILE_TOKEN = "reconcile-token-3f9c2a7e51"
LIST = (
    b"application.id,application.name,site.id,site.name,site.urn,site.dfe_number,enabled,"
    b"client_key,client_secret\napp-homework,Homework Hub,site-1,Oakfield Primary,123456,"
    b"823/4001,no,,\n"
)
SECRET_SETTINGS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SIMSID_ENCRYPTION_KEYS",
    "SIMSID_WEBHOOK_SECRET",
    "SIMSID_UPSTREAM_SECRET",
    "SIMSID_RECONCILE_TOKEN",
)
SECRETS = (UPSTREAM_SECRET, RECONCILE_TOKEN, harness.SIGNING_SECRET, harness.WEBHOOK_SECRET)


class Receiver:
    """Where decisions would go: answers `status` and records every request's method."""

    def __init__(self, status: int = 405) -> None:
        self.status = status
        self.methods: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.methods.append(self.command)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/decisions?key=hidden"

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-doctor-0123456789") as fs:
        fs.usergroups = {GROUP: [harness.OTHER_ADMIN]}
        yield fs


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def listing() -> Iterator[ListServer]:
    with ListServer(RECONCILE_TOKEN, LIST) as server:
        yield server


def _ready(database_url: str) -> str:
    """The database as after `db upgrade` and a first start: the sandbox's two apps
    (one in the default channel, one in its own) and the vault canary."""
    db = Database(database_url)
    migrate.upgrade(db)
    register_examples(db)
    with db.session() as session:
        check_keys(session)
    db.dispose()
    return database_url


@pytest.fixture
def env(
    fake: FakeSlack, sqlite_url: str, receiver: Receiver, listing: ListServer
) -> dict[str, str]:
    """The sandbox's workspace, with an upstream receiver and SIMS ID's list as well."""
    return harness.server_env(
        fake.api_url,
        _ready(sqlite_url),
        TEST_KEY,
        SLACK_BOT_TOKEN=fake.token,
        SIMSID_ADMINS=f"{ADMIN},{GROUP}",
        SIMSID_DEFAULT_CHANNEL=DEFAULT_CHANNEL,
        SIMSID_UPSTREAM_URL=receiver.url,
        SIMSID_UPSTREAM_SECRET=UPSTREAM_SECRET,
        SIMSID_RECONCILE_URL=listing.url,
        SIMSID_RECONCILE_TOKEN=RECONCILE_TOKEN,
    )


def doctor(
    tmp_path: Path, env: dict[str, str], *args: str
) -> tuple[int, dict[str, tuple[bool, str]], str]:
    """Run it; the exit status, each check's (ok, line) by name, and the whole output."""
    result = subprocess.run(
        [*harness.bot_command(), "doctor", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    for secret in (*SECRETS, *(env.get(name) for name in SECRET_SETTINGS)):
        assert not secret or secret not in output, output
    checks: dict[str, tuple[bool, str]] = {}
    for line in result.stdout.splitlines():
        mark, _, rest = line.partition(" ")
        if mark in ("✓", "✗"):
            name = rest.split(":", 1)[0]
            assert name not in checks, f"two lines for {name}: {output}"
            checks[name] = (mark == "✓", line)
    return result.returncode, checks, output


def failing(checks: dict[str, tuple[bool, str]]) -> dict[str, str]:
    return {name: line for name, (ok, line) in checks.items() if not ok}


def only_failure(tmp_path: Path, env: dict[str, str]) -> tuple[str, str]:
    """Run it, expecting exit 1 with exactly one ✗; that check's name and line."""
    status, checks, output = doctor(tmp_path, env)
    assert status == 1, output
    bad = failing(checks)
    assert len(bad) == 1, output
    [(name, line)] = bad.items()
    return name, line


EVERY_CHECK = {
    "settings",
    "database",
    "vault",
    "slack",
    "scopes",
    f"channel {DEFAULT_CHANNEL}",
    f"channel {PORTAL_CHANNEL}",
    f"admin {ADMIN}",
    f"admin group {GROUP}",
    "webhook",
    "upstream",
    "reconcile",
}


def test_required_scopes_are_manifest_ymls() -> None:
    manifest = yaml.safe_load((REPO / "manifest.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == REQUIRED_SCOPES | set(OPTIONAL_SCOPES)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_every_check_holds_against_the_sandbox_workspace(
    tmp_path: Path,
    env: dict[str, str],
    receiver: Receiver,
    listing: ListServer,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    if backend == "postgres":
        env["DATABASE_URL"] = _ready(str(request.getfixturevalue("postgres_url")))
    status, checks, output = doctor(tmp_path, env)
    assert status == 0, output
    assert set(checks) == EVERY_CHECK, output
    assert not failing(checks), output
    assert "@simsid" in checks["slack"][1] and "Sandbox" in checks["slack"][1]
    assert "#c0portal (for application Parent Portal)" in checks[f"channel {PORTAL_CHANNEL}"][1]
    assert "lists 1 installation" in checks["reconcile"][1]
    assert "all checks hold" in output
    # Never a decision: one unsigned GET, and the list fetched once with its token.
    assert receiver.methods == ["GET"]
    assert listing.authorizations == [f"Bearer {RECONCILE_TOKEN}"]
    assert "hidden" not in output  # the query string of a URL may hold a key


def test_json_lists_each_check_for_scripts(
    tmp_path: Path, env: dict[str, str], fake: FakeSlack
) -> None:
    fake.set_channel(PORTAL_CHANNEL, archived=True)
    result = subprocess.run(
        [*harness.bot_command(), "doctor", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    checks = json.loads(result.stdout)
    assert [set(c) for c in checks] == [{"check", "ok", "detail", "fix"}] * len(checks)
    assert {c["check"] for c in checks} == EVERY_CHECK
    [bad] = [c for c in checks if not c["ok"]]
    assert bad["check"] == f"channel {PORTAL_CHANNEL}"
    assert "archived" in bad["detail"] and "unarchive" in bad["fix"]
    assert all(c["fix"] == "" for c in checks if c["ok"])


def test_bad_settings_exit_2_naming_them(tmp_path: Path, env: dict[str, str]) -> None:
    del env["SLACK_BOT_TOKEN"]
    env["SIMSID_ADMINS"] = "bob"
    status, checks, output = doctor(tmp_path, env)
    assert status == 2
    assert "SLACK_BOT_TOKEN" in output and "SIMSID_ADMINS" in output
    assert not checks


# -- one test per ✗ ------------------------------------------------------------------


def test_a_missing_scope_is_named(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    fake.scopes.discard("usergroups:read")
    status, checks, output = doctor(tmp_path, env)
    assert status == 1
    bad = failing(checks)
    assert set(bad) == {"scopes", f"admin group {GROUP}"}, output
    assert "lacks usergroups:read" in bad["scopes"] and "reinstall" in bad["scopes"]
    assert "missing_scope" in bad[f"admin group {GROUP}"]


def test_the_optional_email_scope_is_shown_not_failed(
    tmp_path: Path, env: dict[str, str], fake: FakeSlack
) -> None:
    fake.scopes.discard("users:read.email")
    status, checks, output = doctor(tmp_path, env)
    assert status == 0, output
    ok, line = checks["scopes"]
    assert ok and "users:read.email" in line and "actor_email is null" in line, output


def test_an_archived_channel(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    fake.set_channel(DEFAULT_CHANNEL, name="sims-installs", archived=True)
    name, line = only_failure(tmp_path, env)
    assert name == f"channel {DEFAULT_CHANNEL}"
    assert "#sims-installs (for SIMSID_DEFAULT_CHANNEL) is archived" in line
    assert "Fix: unarchive it" in line


def test_a_private_channel_the_bot_is_not_in(
    tmp_path: Path, env: dict[str, str], fake: FakeSlack
) -> None:
    fake.set_channel(PORTAL_CHANNEL, private=True, member=False)
    name, line = only_failure(tmp_path, env)
    assert name == f"channel {PORTAL_CHANNEL}"
    assert "not found (for application Parent Portal)" in line
    assert "`/invite @simsid`" in line


def test_a_public_channel_the_bot_is_not_in_needs_chat_write_public(
    tmp_path: Path, env: dict[str, str], fake: FakeSlack
) -> None:
    fake.set_channel(PORTAL_CHANNEL, member=False)
    status, checks, output = doctor(tmp_path, env)
    assert status == 0, output
    assert "without joining (chat:write.public)" in checks[f"channel {PORTAL_CHANNEL}"][1]

    fake.scopes.discard("chat:write.public")
    status, checks, output = doctor(tmp_path, env)
    assert status == 1
    bad = failing(checks)
    assert set(bad) == {"scopes", f"channel {PORTAL_CHANNEL}"}, output
    assert "@simsid is not in it" in bad[f"channel {PORTAL_CHANNEL}"]


def test_a_channel_that_does_not_exist(
    tmp_path: Path, env: dict[str, str], fake: FakeSlack
) -> None:
    fake.missing_channels.add(DEFAULT_CHANNEL)
    name, line = only_failure(tmp_path, env)
    assert name == f"channel {DEFAULT_CHANNEL}"
    assert "check the id" in line and "SIMSID_DEFAULT_CHANNEL" in line


def test_an_unknown_admin_user(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    fake.missing_users.add(ADMIN)
    name, line = only_failure(tmp_path, env)
    assert name == f"admin {ADMIN}"
    assert "no such user" in line and "Copy member ID" in line


def test_a_deactivated_admin_user(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    fake.deactivated_users.add(ADMIN)
    name, line = only_failure(tmp_path, env)
    assert name == f"admin {ADMIN}" and "deactivated" in line


def test_an_empty_admin_group(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    fake.usergroups[GROUP] = []
    name, line = only_failure(tmp_path, env)
    assert name == f"admin group {GROUP}" and "has no members" in line


def test_an_unknown_admin_group(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    del fake.usergroups[GROUP]
    name, line = only_failure(tmp_path, env)
    assert name == f"admin group {GROUP}" and "no such user group" in line


def test_a_revoked_token(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    fake.revoke_token()
    status, checks, output = doctor(tmp_path, env)
    assert status == 1
    bad = failing(checks)
    assert set(bad) == {"slack"}, output
    assert "token_revoked" in bad["slack"] and "Reinstall" in bad["slack"]
    assert not any(name.startswith(("channel", "admin", "scopes")) for name in checks)


def test_slack_unreachable(tmp_path: Path, env: dict[str, str], fake: FakeSlack) -> None:
    fake.refuse_connections()
    name, line = only_failure(tmp_path, env)
    assert name == "slack" and "cannot reach 127.0.0.1" in line


def test_no_signing_secret(tmp_path: Path, env: dict[str, str]) -> None:
    del env["SLACK_SIGNING_SECRET"]
    name, line = only_failure(tmp_path, env)
    assert name == "settings" and "SLACK_SIGNING_SECRET" in line


def test_a_database_not_migrated(tmp_path: Path, env: dict[str, str]) -> None:
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'new.db'}"
    status, checks, output = doctor(tmp_path, env)
    assert status == 1
    assert "db upgrade" in checks["database"][1]
    assert not (tmp_path / "new.db").exists()  # doctor creates nothing

    Database(env["DATABASE_URL"]).dispose()
    migrate.upgrade(db := Database(env["DATABASE_URL"]), "0001")
    db.dispose()
    status, checks, output = doctor(tmp_path, env)
    assert status == 1
    assert "at migration 0001" in checks["database"][1], output


def test_a_database_that_cannot_be_opened(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not a database, " * 100)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'junk.db'}"
    status, checks, output = doctor(tmp_path, env)
    assert status == 1
    assert "cannot be opened" in checks["database"][1], output
    assert "vault" not in checks  # nothing to open it with


def test_a_key_that_does_not_open_the_vault(tmp_path: Path, env: dict[str, str]) -> None:
    env["SIMSID_ENCRYPTION_KEYS"] = vault.generate_key()
    name, line = only_failure(tmp_path, env)
    assert name == "vault" and "cannot decrypt" in line


def test_no_webhook_secret(tmp_path: Path, env: dict[str, str]) -> None:
    del env["SIMSID_WEBHOOK_SECRET"]
    name, line = only_failure(tmp_path, env)
    assert name == "webhook" and "SIMSID_WEBHOOK_SECRET is not set" in line


def test_upstream_that_does_not_answer(
    tmp_path: Path, env: dict[str, str], receiver: Receiver
) -> None:
    receiver.close()
    name, line = only_failure(tmp_path, env)
    assert name == "upstream" and "does not answer" in line


def test_upstream_failing(tmp_path: Path, env: dict[str, str], receiver: Receiver) -> None:
    receiver.status = 503
    name, line = only_failure(tmp_path, env)
    assert name == "upstream" and "HTTP 503" in line
    assert receiver.methods == ["GET"]


def test_a_reconcile_token_refused(
    tmp_path: Path, env: dict[str, str], listing: ListServer
) -> None:
    env["SIMSID_RECONCILE_TOKEN"] = "reconcile-token-wrong-0000"
    name, line = only_failure(tmp_path, env)
    assert name == "reconcile" and "HTTP 401" in line and "SIMSID_RECONCILE_TOKEN" in line


def test_upstream_refusing_decisions(tmp_path: Path, env: dict[str, str]) -> None:
    # A receiver that refuses the secret answers the decisions 401 until the bot gives up.
    db = Database(env["DATABASE_URL"])
    with db.session() as session:
        session.add(
            OutboxItem(
                kind=OutboxKind.UPSTREAM,
                payload={"type": "installation.enabled"},
                attempts=5,
                last_error="HTTP 401",
                done_at=utcnow(),
                failed=True,
            )
        )
    db.dispose()
    name, line = only_failure(tmp_path, env)
    assert name == "upstream" and "refused 1 decision(s) for good" in line
    assert "SIMSID_UPSTREAM_SECRET" in line and "outbox --retry" in line


def test_passes_against_a_running_sandbox(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "sandbox.db")
    try:
        sandbox.start(port=0)
        assert sandbox.bot is not None and sandbox.fake is not None
        settings = sandbox.bot.settings
        secret = {
            name.upper(): getattr(settings, name).get_secret_value()
            for name in ("slack_bot_token", "slack_signing_secret")
        }
        env = harness.server_env(
            sandbox.fake.api_url,
            settings.database_url,
            ",".join(settings.encryption_keys()),
            **secret,
            SIMSID_WEBHOOK_SECRET=",".join(settings.webhook_secrets()),
            SIMSID_ADMINS=",".join(settings.simsid_admins),
            SIMSID_DEFAULT_CHANNEL=str(settings.simsid_default_channel),
        )
        status, checks, output = doctor(tmp_path, env)
    finally:
        sandbox.stop()
    assert status == 0, output
    assert "#sims-installs" in checks[f"channel {DEFAULT_CHANNEL}"][1]
    assert "#parent-portal" in checks[f"channel {PORTAL_CHANNEL}"][1]
    assert {f"admin {ADMIN}", f"admin {SECOND_ADMIN}"} <= set(checks)


def test_a_database_migrated_by_a_newer_release(tmp_path: Path, env: dict[str, str]) -> None:
    db = Database(env["DATABASE_URL"])
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    db.dispose()
    status, checks, output = doctor(tmp_path, env)
    assert status == 1
    assert "newer release" in checks["database"][1], output

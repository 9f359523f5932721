"""The command line as a user runs it: subprocesses, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.sandbox.fake_slack import FakeSlack
from store import vault
from tests import harness
from tests.conftest import TEST_KEY


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SIMSID_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        SIMSID_ENCRYPTION_KEYS=TEST_KEY,
        SIMSID_DEFAULT_CHANNEL="C0DEFAULT",
    )
    env.update(extra)
    return env


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*harness.bot_command(), *args],
        env=env or _env(tmp_path),
        cwd=tmp_path,  # so no stray .env is read
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_keys_generate_prints_a_fernet_key(tmp_path: Path) -> None:
    result = run(tmp_path, "keys", "generate", env={"PATH": os.environ["PATH"]})
    assert result.returncode == 0
    vault.configure([result.stdout.strip()])  # raises if it is not a key
    vault.configure([TEST_KEY])


@pytest.mark.parametrize(
    ("args", "env_change", "named"),
    [
        (["serve"], {}, ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SIMSID_ADMINS"]),
        (["apps", "list"], {"SIMSID_ENCRYPTION_KEYS": ""}, ["SIMSID_ENCRYPTION_KEYS"]),
        (["apps", "list"], {"SIMSID_ENCRYPTION_KEYS": "not-a-key"}, ["SIMSID_ENCRYPTION_KEYS"]),
        (
            ["serve"],
            {"SIMSID_ADMINS": "bob", "SLACK_BOT_TOKEN": "xoxp-1"},
            ["SIMSID_ADMINS", "SLACK_BOT_TOKEN"],
        ),
        (["apps", "list"], {"SIMSID_TIMEZONE": "Mars/Olympus"}, ["SIMSID_TIMEZONE"]),
        (["apps", "list"], {"SIMSID_DIGEST_CRON": "every morning"}, ["SIMSID_DIGEST_CRON"]),
        (["apps", "list"], {"PORT": "eighty"}, ["PORT"]),
    ],
)
def test_bad_settings_exit_2_naming_every_variable(
    tmp_path: Path, args: list[str], env_change: dict[str, str], named: list[str]
) -> None:
    result = run(tmp_path, *args, env=_env(tmp_path, **env_change))
    assert result.returncode == 2, result.stderr
    for name in named:
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    for args in (["frobnicate"], ["apps", "add", "No id"], ["serve", "--port", "x"]):
        result = run(tmp_path, *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "setup", "named"),
    [
        # Each exits 2 naming what is wrong, never with a traceback.
        (["apps", "list"], {"DATABASE_URL": "sqlite:////nonexistent/dir/x.db"}, "DATABASE_URL"),
        (["db", "upgrade"], {"DATABASE_URL": "sqlite:////nonexistent/dir/x.db"}, "DATABASE_URL"),
        (["apps", "list"], {"DATABASE_URL": "sqlite:///{tmp}/not-a-db.bin"}, "DATABASE_URL"),
        (["digest"], {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}, "DATABASE_URL"),
        (
            ["db", "upgrade"],
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"},
            "DATABASE_URL",
        ),
        (["serve", "--port", "70000"], {}, "--port"),
        (["sandbox", "--port", "-5"], {}, "--port"),
        (["outbox", "--retry", "99999999999999999999999"], {}, "--retry"),
        (["outbox", "--retry", "everything"], {}, "--retry"),
        (["apps", "add", "", "--id", "app-x"], {}, "argument name"),
        (["apps", "add", "X", "--id", "  "], {}, "--id"),
        (["apps", "add", "X", "--id", "app-x", "--channel", "Cfoo-bar"], {}, "--channel"),
        (["apps", "add", "X", "--id", "app-x", "--channel", "C"], {}, "--channel"),
        (["apps", "add", "X", "--id", "app-x", "--approvers", "U0HW1,X123"], {}, "ids: X123"),
        (["apps", "edit", "app-x", "--approvers", "S0TEAM,X123"], {}, "ids: X123"),
        (["apps", "edit", "app-x", "--channel", "general"], {}, "--channel"),
        (["apps", "edit", "no-such-app", "--channel", "C0NEW"], {}, "APP"),
        (["ingest", "latin.jsonl"], {}, "FILE"),
        (["ingest", "."], {}, "FILE"),
    ],
)
def test_user_mistakes_exit_2_naming_what_is_wrong(
    tmp_path: Path, args: list[str], setup: dict[str, str], named: str
) -> None:
    (tmp_path / "not-a-db.bin").write_bytes(b"\x00\x01not a database at all" * 100)
    (tmp_path / "latin.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')
    extra = {k: v.replace("{tmp}", str(tmp_path)) for k, v in setup.items()}
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-1-abc",
        SLACK_SIGNING_SECRET="signing-secret-value",
        SIMSID_ADMINS="U0ADMIN01",
        SIMSID_UPSTREAM_URL="https://decisions.example.org/hook",
        SIMSID_UPSTREAM_SECRET="upsec_9b2e6d0f4a8c1e73",
        **extra,
    )
    result = run(tmp_path, *args, env=env)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert named in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_wrong_key_for_the_database_fails_loudly_at_start(tmp_path: Path) -> None:
    assert run(tmp_path, "apps", "list").returncode == 0  # writes the canary
    other = vault.generate_key()
    result = run(tmp_path, "apps", "list", env=_env(tmp_path, SIMSID_ENCRYPTION_KEYS=other))
    assert result.returncode == 2
    assert "SIMSID_ENCRYPTION_KEYS" in result.stderr
    assert "Traceback" not in result.stderr


def test_apps_add_update_and_list(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    added = run(tmp_path, "apps", "add", "Homework Hub", "--id", "app-hw", "--channel", "C0HW")
    assert added.returncode == 0 and "registered" in added.stdout
    updated = run(tmp_path, "apps", "add", "Homework Hub 2", "--id", "app-hw", "--bypass-auth")
    assert updated.returncode == 0 and "updated" in updated.stdout
    listed = run(tmp_path, "apps", "list").stdout
    assert "app-hw\tHomework Hub 2\tslug=homework-hub-2\tchannel=C0HW\tbypass-auth" in listed


def test_apps_add_and_edit_approvers_and_channel(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    added = run(
        tmp_path, "apps", "add", "Homework Hub", "--id", "app-hw", "--approvers", "U0HW1,S0HWTEAM"
    )
    assert added.returncode == 0, added.stderr
    listed = run(tmp_path, "apps", "list").stdout
    assert "app-hw\tHomework Hub\tslug=homework-hub\tchannel=(default)" in listed
    assert "approvers=S0HWTEAM,U0HW1" in listed
    edited = run(tmp_path, "apps", "edit", "Homework Hub", "--channel", "C0HW")
    assert edited.returncode == 0, edited.stderr
    listed = run(tmp_path, "apps", "list").stdout
    assert "channel=C0HW" in listed and "approvers=S0HWTEAM,U0HW1" in listed  # kept
    edited = run(tmp_path, "apps", "edit", "app-hw", "--approvers", "W0OTHER")
    assert edited.returncode == 0, edited.stderr
    listed = run(tmp_path, "apps", "list").stdout
    assert "channel=C0HW" in listed and "approvers=W0OTHER" in listed and "U0HW1" not in listed
    cleared = run(tmp_path, "apps", "edit", "app-hw", "--approvers", "")
    assert cleared.returncode == 0, cleared.stderr
    assert "approvers=" not in run(tmp_path, "apps", "list").stdout


def _event(n: int, **site: str) -> dict:
    return {
        "id": f"evt_{n}",
        "type": "installation.created",
        "occurred_at": "2026-11-27T09:00:00Z",
        "application": {"id": "app-hw", "name": "Homework Hub"},
        "site": {"id": f"site-{n}", "name": f"School {n}", **site},
    }


def test_ingest_twice_changes_nothing_and_names_bad_lines(tmp_path: Path) -> None:
    lines = [json.dumps(_event(n, urn=str(100000 + n))) for n in range(50)]
    lines.insert(10, "{not json")
    lines.insert(20, json.dumps({**_event(99), "type": "installation.exploded"}))
    bad_site = _event(98)
    del bad_site["site"]["name"]
    lines.insert(30, json.dumps(bad_site))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    first = run(tmp_path, "ingest", str(path))
    assert first.returncode == 0, first.stderr
    assert "50 new, 0 duplicate" in first.stdout and "3 rejected" in first.stdout
    assert "line 11: body is not valid JSON" in first.stderr
    assert "line 21: type" in first.stderr
    assert "line 31: site.name is missing" in first.stderr

    second = run(tmp_path, "ingest", str(path))
    assert "0 new, 50 duplicate" in second.stdout

    from sqlalchemy import func, select

    from store.db import Database
    from store.models import AuditEntry, Installation, OutboxItem

    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Installation)) == 50
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 50
        # No --notify: an import of history posts nothing.
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 0
    db.dispose()


@pytest.mark.postgres
def test_ingest_leaves_postgres_planner_statistics_current(
    tmp_path: Path, postgres_url: str
) -> None:
    # Without them, listings read whole tables until autovacuum analyzes (15-30 ms a
    # listing right after a 20,000-line ingest, 3 ms after). 40 rows: under autovacuum's
    # own threshold, so only the ingest can have analyzed them.
    from sqlalchemy import create_engine, text

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(_event(n)) + "\n" for n in range(40)))
    result = run(tmp_path, "ingest", str(path), env=_env(tmp_path, DATABASE_URL=postgres_url))
    assert result.returncode == 0, result.stderr

    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        known = conn.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'installation'"))
    engine.dispose()
    assert known == 40


def test_ingest_refuses_events_from_the_future_naming_the_line(tmp_path: Path) -> None:
    """A line dated 9999 would freeze its installation: every real event after it would
    look older. It is rejected by line and field, as the webhook refuses it."""
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    lines = [
        _event(1),
        {**_event(2), "occurred_at": "9999-01-01T00:00:00Z"},
        {**_event(3), "occurred_at": soon},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run(tmp_path, "ingest", str(path))
    assert result.returncode == 0, result.stderr
    assert "2 new" in result.stdout and "1 rejected" in result.stdout, result.stdout
    assert "line 2: occurred_at: is more than 5 minutes ahead" in result.stderr, result.stderr


def test_ingest_csv(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "id,type,occurred_at,application.id,application.name,site.id,site.name,site.urn,"
        "site.dfe_number\n"
        "e1,installation.created,2026-11-27T09:00:00Z,app-hw,Homework Hub,s1,Oak,123,823/1\n"
        "e2,installation.created,2026-11-27T09:00:00Z,app-hw,Homework Hub,s2,,124,\n"
    )
    result = run(tmp_path, "ingest", str(path))
    assert "1 new" in result.stdout and "1 rejected" in result.stdout
    assert "line 3: site.name is missing" in result.stderr


def test_keys_rotate_then_drop_the_old_key(tmp_path: Path) -> None:
    from sqlalchemy import select

    from store.db import Database
    from store.lifecycle import Action, Lifecycle
    from store.models import Installation

    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(_event(n)) for n in range(5)) + "\n")
    assert run(tmp_path, "ingest", str(path)).returncode == 0
    db = Database(f"sqlite:///{tmp_path / 'cli.db'}")
    lifecycle = Lifecycle()
    with db.session() as session:
        ids = list(session.scalars(select(Installation.id)))
        for installation_id in ids:
            lifecycle.act(
                session, installation_id=installation_id, action=Action.APPROVE, actor="U1"
            )
    with db.session() as session:
        before = [lifecycle.reveal_secret(session, installation_id=i, actor="U1") for i in ids]

    new_key = vault.generate_key()
    rotated = run(
        tmp_path,
        "keys",
        "rotate",
        env=_env(tmp_path, SIMSID_ENCRYPTION_KEYS=f"{new_key},{TEST_KEY}"),
    )
    assert rotated.returncode == 0 and "re-encrypted 5 secrets" in rotated.stdout
    try:
        vault.configure([new_key])  # the old key is gone
        with db.session() as session:
            after = [lifecycle.reveal_secret(session, installation_id=i, actor="U1") for i in ids]
        assert after == before
        listed = run(tmp_path, "apps", "list", env=_env(tmp_path, SIMSID_ENCRYPTION_KEYS=new_key))
        assert listed.returncode == 0, listed.stderr
    finally:
        vault.configure([TEST_KEY])
        db.dispose()


def test_manifest_commands_reach_the_bot(served: harness.Client) -> None:
    manifest = yaml.safe_load((Path(__file__).parents[1] / "manifest.yml").read_text())
    for command in manifest["features"]["slash_commands"]:
        path = command["url"].split("://", 1)[1].split("/", 1)[1]
        assert f"/{path}" == "/slack/events"
        answer = served.slash("help")
        assert answer.status == 200 and "/simsid" in answer.body.decode()
    interactivity = manifest["settings"]["interactivity"]["request_url"]
    assert interactivity.endswith("/slack/events")


@pytest.mark.parametrize("command", [["db", "upgrade"], ["apps", "list"]])
def test_a_database_from_an_unknown_release_is_named_not_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    import sqlite3

    assert run(tmp_path, "db", "upgrade").returncode == 0
    # What a database written by a newer release (or another branch) looks like.
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed_newer'")

    result = run(tmp_path, *command)
    assert result.returncode == 2, result.stderr
    assert "DATABASE_URL" in result.stderr
    assert "f00dfeed_newer" in result.stderr
    assert "Traceback" not in result.stderr


def test_digest_posts_behind_an_install_message_before_it_says_so(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """The channel takes a post a second: the install message waiting went first, the
    digest's turn came after the delivery had drained, and the command said "posted"
    with the digest still in the outbox."""
    from bot.app import create_app
    from tests.conftest import make_settings

    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    bot = create_app(make_settings(fake_slack, db_url))  # delivery not started
    try:
        with harness.serving(bot, deliver=False) as url:
            assert harness.Client(url).install(event_id="evt_d1").status == 202
    finally:
        bot.db.dispose()
    env = _env(
        tmp_path,
        DATABASE_URL=db_url,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=harness.SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        SIMSID_ADMINS=harness.ADMIN,
        SIMSID_DEFAULT_CHANNEL=harness.CHANNEL,
    )
    result = run(tmp_path, "digest", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "digest: posted"
    texts = [m["text"] for m in fake_slack.channel_messages(harness.CHANNEL)]
    assert len(texts) == 2 and "waiting for approval" in texts[1], texts


def test_a_url_setting_with_a_password_exits_2_without_printing_it(tmp_path: Path) -> None:
    password = "Pa55-w0rd-in-the-url"
    env = _env(
        tmp_path,
        SIMSID_RECONCILE_URL=f"https://reader:{password}@lists.example.org/list.csv",
        SIMSID_UPSTREAM_URL=f"https://bot:{password}@decisions.example.org/hook",
        SIMSID_UPSTREAM_SECRET="9f2c4e8a1b7d3f6e0a5c",
    )
    result = run(tmp_path, "outbox", env=env)
    assert result.returncode == 2, result.stderr
    assert "SIMSID_RECONCILE_URL" in result.stderr and "SIMSID_UPSTREAM_URL" in result.stderr
    assert password not in result.stdout + result.stderr

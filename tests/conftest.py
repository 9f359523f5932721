"""Shared fixtures: real databases (SQLite always, PostgreSQL when TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from sqlalchemy import text

from bot.app import BotApp, create_app
from bot.config import Settings
from bot.sandbox.fake_slack import FakeSlack
from store import migrate, vault
from store.db import Database
from tests import harness

# Tests configure the bot explicitly: a developer's exported settings must not leak in
# (an exported SIMSID_UPSTREAM_URL would send test decisions to a real receiver).
for _name in list(os.environ):
    if _name.startswith(("SLACK_", "SIMSID_", "LOG_")) or _name in ("DATABASE_URL", "PORT"):
        del os.environ[_name]

TEST_KEY = vault.generate_key()
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# A red run must be one anyone can replay. In CI every run draws the same examples
# (derandomize); elsewhere the run's seed is chosen here and printed in the header, so
# `--hypothesis-seed=N` draws that run's examples again. No deadline and no too_slow
# check: on a loaded machine either failed tests at random, whatever they checked.
hypothesis.settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.register_profile(
    "dev", deadline=None, print_blob=True, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("ci" if IN_CI else "dev")


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own plugin reads --hypothesis-seed
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = str(secrets.randbits(32))


def pytest_report_header(config: pytest.Config) -> str:
    if hypothesis.settings.default.derandomize:
        return "hypothesis: derandomized (profile 'ci'): every run draws the same examples"
    seed = config.getoption("hypothesis_seed")
    return f"hypothesis seed {seed}: replay this run with --hypothesis-seed={seed}"


@pytest.fixture(scope="session", autouse=True)
def _vault_keys() -> None:
    vault.configure([TEST_KEY])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test copies it rather than migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "simsid.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def require_postgres() -> str:
    """The PostgreSQL URL, or skip (fail under CI, where PostgreSQL must run)."""
    if POSTGRES_URL:
        return POSTGRES_URL
    if IN_CI:
        pytest.fail("TEST_POSTGRES_URL is not set in CI: .ci/run must start PostgreSQL")
    pytest.skip("PostgreSQL tests need TEST_POSTGRES_URL (see scripts/start-test-postgres)")


@pytest.fixture(scope="session")
def postgres_schema() -> str:
    url = require_postgres()
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(db)
    db.dispose()
    return url


def _truncate(db: Database) -> None:
    with db.engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            if r[0] != "alembic_version"
        ]
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def postgres_url(postgres_schema: str) -> Iterator[str]:
    db = Database(postgres_schema)
    _truncate(db)
    db.dispose()
    yield postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    yield database
    database.dispose()


# -- the bot over real HTTP, with a stand-in for Slack's Web API ---------------


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-test") as fs:
        fs.usergroups = {"SADMINS": [harness.OTHER_ADMIN]}
        yield fs
    # A payload Slack would refuse fails the test that sent it, whatever the test looked at.
    refused = fs.refusals()
    assert not refused, f"the bot sent payloads Slack would refuse: {refused}"


def make_settings(fake: FakeSlack, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": harness.SIGNING_SECRET,
        "slack_api_url": fake.api_url,
        "database_url": database_url,
        "simsid_encryption_keys": TEST_KEY,
        "simsid_webhook_secret": harness.WEBHOOK_SECRET,
        "simsid_admins": f"{harness.ADMIN},SADMINS",
        "simsid_default_channel": harness.CHANNEL,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(fake_slack: FakeSlack, sqlite_url: str) -> Settings:
    return make_settings(fake_slack, sqlite_url)


@pytest.fixture
def bot(settings: Settings) -> Iterator[BotApp]:
    app = create_app(settings, timings=harness.QUICK_PACE)
    yield app
    app.delivery.stop()
    app.db.dispose()


@pytest.fixture
def served(bot: BotApp, fake_slack: FakeSlack) -> Iterator[harness.Client]:
    with harness.serving(bot) as url:
        yield harness.Client(url, response_url_base=fake_slack.response_url("x").rsplit("/", 1)[0])


@pytest.fixture
def dispatched(bot: BotApp, fake_slack: FakeSlack) -> Iterator[harness.InProcess]:
    """The bot driven in this process, as `served` is over HTTP: Slack's requests go to
    `bot.bolt.dispatch` (signed; Bolt verifies them), SIMS ID's to the WSGI callable."""
    with harness.in_process(bot, fake_slack) as client:
        yield client
        # The bot's database is disposed next; over HTTP the server's shutdown took long
        # enough to hide the work still running on it.
        harness.settle(bot)


@pytest.fixture(autouse=True)
def _no_request_in_the_test_thread() -> Iterator[None]:
    """Each test starts outside any request: a test that calls the bot's operations on its
    own thread (no WSGI edge to give it a context) must not lend its installation or user
    to the next test's log lines and outbox rows."""
    from bot import log_context

    variables = (log_context.REQUEST_ID, log_context.USER, log_context.INSTALLATION)
    tokens = [variable.set(None) for variable in variables]
    yield
    for variable, token in zip(variables, tokens, strict=True):
        variable.reset(token)

"""Settings from the environment: every missing or malformed variable is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings, SettingsError, exit_on_settings_error, load_settings
from store import vault

VARIABLES = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "DATABASE_URL",
    "SIMSID_ENCRYPTION_KEYS",
    "SIMSID_WEBHOOK_SECRET",
    "SIMSID_ADMINS",
    "SIMSID_DEFAULT_CHANNEL",
    "SIMSID_DIGEST_CRON",
    "SIMSID_TIMEZONE",
    "SIMSID_REMIND_AFTER_HOURS",
    "SIMSID_UPSTREAM_URL",
    "SIMSID_UPSTREAM_SECRET",
    "SIMSID_RETENTION_DAYS",
    "PORT",
    "LOG_LEVEL",
    "LOG_FORMAT",
]
SERVE_REQUIRED = {
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SIMSID_ENCRYPTION_KEYS",
    "SIMSID_ADMINS",
    "SIMSID_DEFAULT_CHANNEL",
}
KEY = vault.generate_key()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No variable from the developer's shell, and no .env file in the working directory."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def valid(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    values = {
        "SLACK_BOT_TOKEN": "xoxb-1-abc",
        "SLACK_SIGNING_SECRET": "signing-secret-value",
        "SIMSID_ENCRYPTION_KEYS": KEY,
        "SIMSID_ADMINS": "U0ADMIN01,S0GROUP01",
        "SIMSID_DEFAULT_CHANNEL": "C0DEFAULT",
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    return clean_env


def load() -> Settings:
    return load_settings(_env_file=None)


def problems_of(error: pytest.ExceptionInfo[SettingsError]) -> dict[str, str]:
    return error.value.problems


def test_missing_required_settings_are_all_named() -> None:
    settings = load()
    with pytest.raises(SettingsError) as error:
        settings.require("serve")
    assert set(problems_of(error)) == SERVE_REQUIRED
    for name in SERVE_REQUIRED:
        assert name in str(error.value)


def test_socket_mode_needs_the_app_token(valid: pytest.MonkeyPatch) -> None:
    valid.delenv("SLACK_SIGNING_SECRET")
    with pytest.raises(SettingsError) as error:
        load().require("socket")
    assert set(problems_of(error)) == {"SLACK_APP_TOKEN"}


def test_valid_settings_and_defaults(valid: pytest.MonkeyPatch) -> None:
    settings = load().require("serve")
    assert settings.admin_users == frozenset({"U0ADMIN01"})
    assert settings.admin_groups == ("S0GROUP01",)
    assert settings.encryption_keys() == [KEY]
    assert settings.database_url == "sqlite:///simsid.db"
    assert settings.simsid_digest_cron == "0 8 * * 1-5"
    assert str(settings.tz) == "Europe/London"
    assert settings.simsid_remind_after_hours == 24
    assert settings.port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.simsid_upstream_url is None
    assert settings.simsid_remove_approvals == 1


def test_two_person_rule_for_remove(valid: pytest.MonkeyPatch) -> None:
    valid.setenv("SIMSID_REMOVE_APPROVALS", " 2 ")
    assert load().simsid_remove_approvals == 2


def test_lists_are_comma_separated(valid: pytest.MonkeyPatch) -> None:
    second = vault.generate_key()
    valid.setenv("SIMSID_ENCRYPTION_KEYS", f" {KEY} , {second} ")
    valid.setenv("SIMSID_ADMINS", "U0AAA, U0BBB ,S0CCC")
    valid.setenv("SIMSID_WEBHOOK_SECRET", "whsec_new_0123456789abcdef,whsec_old_0123456789abcdef")
    settings = load()
    assert settings.encryption_keys() == [KEY, second]
    assert settings.admin_users == frozenset({"U0AAA", "U0BBB"})
    assert settings.admin_groups == ("S0CCC",)
    assert settings.webhook_secrets() == [
        "whsec_new_0123456789abcdef",
        "whsec_old_0123456789abcdef",
    ]


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("SIMSID_ENCRYPTION_KEYS", "not-a-fernet-key", "Fernet"),
        ("SIMSID_ENCRYPTION_KEYS", f"{KEY},also-not-a-key", "key 2"),
        ("SIMSID_ADMINS", "bob", "bob"),
        ("SIMSID_ADMINS", "U0ADMIN01,bob", "bob"),
        ("SIMSID_DEFAULT_CHANNEL", "#general", "channel id"),
        ("SIMSID_DIGEST_CRON", "every monday at 8", "crontab"),
        ("SIMSID_DIGEST_CRON", "0 25 * * *", "crontab"),
        ("SIMSID_TIMEZONE", "Mars/Olympus_Mons", "time zone"),
        ("SLACK_BOT_TOKEN", "xoxp-1-user-token", "xoxb-"),
        ("SLACK_APP_TOKEN", "xoxb-not-an-app-token", "xapp-"),
        ("SLACK_BOT_TOKEN", "changeme", "placeholder"),
        ("SIMSID_UPSTREAM_URL", "ftp://example.org/hook", "http"),
        # No host: accepted, then every delivery or fetch failed.
        ("SIMSID_UPSTREAM_URL", "https://", "host"),
        ("SLACK_API_URL", "https://", "host"),
        ("SIMSID_RECONCILE_URL", "https://", "host"),
        ("SIMSID_RECONCILE_URL", "file://", "file://"),
        ("DATABASE_URL", "simsid.db", "SQLAlchemy URL"),
        # Were accepted, then a traceback when opened (no driver installed for them).
        ("DATABASE_URL", "mysql://u@h/db", "PostgreSQL"),
        ("DATABASE_URL", "foo://bar", "PostgreSQL"),
        # Were accepted, then start-up or every prune job failed with an OverflowError.
        ("SIMSID_REMIND_AFTER_HOURS", "inf", ""),
        ("SIMSID_REMIND_AFTER_HOURS", "1e308", ""),
        ("SIMSID_REMIND_AFTER_HOURS", "nan", ""),
        ("SIMSID_RETENTION_DAYS", "1000000", ""),
        ("PORT", "eighty", ""),
        ("SIMSID_REMIND_AFTER_HOURS", "-1", ""),
        ("SIMSID_REMOVE_APPROVALS", "3", "1, or 2"),
        ("SIMSID_REMOVE_APPROVALS", "0", "1, or 2"),
        ("SIMSID_REMOVE_APPROVALS", "two", "1, or 2"),
        ("SIMSID_REMOVE_APPROVALS", "", "1, or 2"),
    ],
)
def test_malformed_values_name_their_variable(
    valid: pytest.MonkeyPatch, name: str, value: str, hint: str
) -> None:
    valid.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load()
    assert set(problems_of(error)) == {name}
    assert hint in problems_of(error)[name]
    assert name in str(error.value)


def test_every_malformed_variable_is_named_at_once(valid: pytest.MonkeyPatch) -> None:
    bad = {
        "SIMSID_ENCRYPTION_KEYS": "nope",
        "SIMSID_ADMINS": "bob",
        "SIMSID_DEFAULT_CHANNEL": "#general",
        "SIMSID_DIGEST_CRON": "whenever",
        "SIMSID_TIMEZONE": "Nowhere/Special",
        "SLACK_BOT_TOKEN": "xoxp-1-user-token",
    }
    for name, value in bad.items():
        valid.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        load()
    assert set(problems_of(error)) == set(bad)


def test_missing_and_malformed_variables_are_named_together(
    valid: pytest.MonkeyPatch,
) -> None:
    """A malformed value does not hide the missing ones: LOG_LEVEL, SLACK_BOT_TOKEN and
    SIMSID_UPSTREAM_SECRET are named in one run, not one per run."""
    valid.delenv("SLACK_BOT_TOKEN")
    valid.setenv("LOG_LEVEL", "bogus")
    valid.setenv("SIMSID_UPSTREAM_URL", "https://decisions.example.org/hook")
    with pytest.raises(SettingsError) as error:
        load_settings("worker", _env_file=None)
    assert set(problems_of(error)) == {"LOG_LEVEL", "SLACK_BOT_TOKEN", "SIMSID_UPSTREAM_SECRET"}
    # Nothing is made up: each malformed value is named once, with its own reason.
    valid.setenv("SLACK_BOT_TOKEN", "xoxp-user")
    with pytest.raises(SettingsError) as error:
        load_settings("worker", _env_file=None)
    assert "xoxb-" in problems_of(error)["SLACK_BOT_TOKEN"]


def test_secret_values_are_not_echoed(valid: pytest.MonkeyPatch) -> None:
    valid.setenv("SLACK_BOT_TOKEN", "xoxp-TOPSECRET123")
    valid.setenv("SIMSID_ENCRYPTION_KEYS", "SUPERSECRETKEYMATERIAL")
    with pytest.raises(SettingsError) as error:
        load()
    assert "TOPSECRET123" not in str(error.value)
    assert "SUPERSECRETKEYMATERIAL" not in str(error.value)
    valid.setenv("SIMSID_ENCRYPTION_KEYS", KEY)
    settings = load_settings(_env_file=None, slack_bot_token="xoxb-HIDDEN-VALUE")
    assert "HIDDEN-VALUE" not in repr(settings)
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgres://u:p@db.example:5432/simsid",
            "postgresql+psycopg://u:p@db.example:5432/simsid",
        ),
        ("postgresql://u@db/simsid", "postgresql+psycopg://u@db/simsid"),
        ("postgresql+psycopg://u@db/simsid", "postgresql+psycopg://u@db/simsid"),
        ("sqlite:////var/lib/simsid/simsid.db", "sqlite:////var/lib/simsid/simsid.db"),
    ],
)
def test_database_url_is_normalised(valid: pytest.MonkeyPatch, given: str, expected: str) -> None:
    valid.setenv("DATABASE_URL", given)
    assert load().database_url == expected


def test_upstream_url_needs_its_secret(valid: pytest.MonkeyPatch) -> None:
    valid.setenv("SIMSID_UPSTREAM_URL", "https://decisions.example.org/hook")
    with pytest.raises(SettingsError) as error:
        load()
    assert set(problems_of(error)) == {"SIMSID_UPSTREAM_SECRET"}
    assert "SIMSID_UPSTREAM_SECRET" in str(error.value)

    valid.setenv("SIMSID_UPSTREAM_SECRET", "upsec_9b2e6d0f4a8c1e73")
    settings = load()
    assert settings.simsid_upstream_url == "https://decisions.example.org/hook"


def test_blank_upstream_url_means_unset(valid: pytest.MonkeyPatch) -> None:
    valid.setenv("SIMSID_UPSTREAM_URL", "")
    assert load().simsid_upstream_url is None


def test_a_dotenv_file_is_read_when_present(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SIMSID_DEFAULT_CHANNEL=C0FROMFILE\nSIMSID_ADMINS=U0FILE\n")
    settings = load_settings()
    assert settings.simsid_default_channel == "C0FROMFILE"
    assert settings.simsid_admins == ["U0FILE"]
    # ... and ignored when told so.
    assert load().simsid_default_channel is None


def test_a_dotenv_file_not_utf8_is_named(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A .env file that is not UTF-8 is named as a problem, not a traceback."""
    (tmp_path / ".env").write_bytes(b"SIMSID_ADMINS=U0CAF\xe9\n")
    clean_env.chdir(tmp_path)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert set(problems_of(error)) == {".env"}


def test_settings_error_exits_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        exit_on_settings_error(SettingsError({"SIMSID_ADMINS": "is required"}))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "SIMSID_ADMINS" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "value",
    [
        "secret",
        "changeme",
        "changethis",
        "short-but-real",  # 14 characters
        "changeme-changeme-please",
        "CHANGETHIS_WEBHOOK_SECRET",
        "your-webhook-secret-here",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        f"{'x' * 40},secret",  # one weak secret in a rotation list is enough to forge
    ],
)
def test_weak_webhook_secrets_are_refused(valid: pytest.MonkeyPatch, value: str) -> None:
    valid.setenv("SIMSID_WEBHOOK_SECRET", value)
    with pytest.raises(SettingsError) as error:
        load()
    assert set(problems_of(error)) == {"SIMSID_WEBHOOK_SECRET"}
    assert value not in str(error.value)


@pytest.mark.parametrize("value", ["secret", "changeme", "up-secret", "changethis-upstream-key"])
def test_weak_upstream_secrets_are_refused(valid: pytest.MonkeyPatch, value: str) -> None:
    valid.setenv("SIMSID_UPSTREAM_URL", "https://decisions.example.org/hook")
    valid.setenv("SIMSID_UPSTREAM_SECRET", value)
    with pytest.raises(SettingsError) as error:
        load()
    assert set(problems_of(error)) == {"SIMSID_UPSTREAM_SECRET"}


@pytest.mark.parametrize("value", ["", "   "])
def test_upstream_url_with_a_blank_secret_is_refused(valid: pytest.MonkeyPatch, value: str) -> None:
    valid.setenv("SIMSID_UPSTREAM_URL", "https://decisions.example.org/hook")
    valid.setenv("SIMSID_UPSTREAM_SECRET", value)
    with pytest.raises(SettingsError) as error:
        load()
    assert set(problems_of(error)) == {"SIMSID_UPSTREAM_SECRET"}


def test_weak_webhook_secret_stops_serve_with_exit_2(valid: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k not in VARIABLES}
    env.update(
        SLACK_BOT_TOKEN="xoxb-1-abc",
        SLACK_SIGNING_SECRET="signing-secret-value",
        SIMSID_ENCRYPTION_KEYS=KEY,
        SIMSID_ADMINS="U0ADMIN01",
        SIMSID_DEFAULT_CHANNEL="C0DEFAULT",
        SIMSID_WEBHOOK_SECRET="secret",
        DATABASE_URL="sqlite:///never-opened.db",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SIMSID_WEBHOOK_SECRET" in done.stderr and "Traceback" not in done.stderr


def test_retention_days(valid: pytest.MonkeyPatch) -> None:
    assert load().simsid_retention_days == 90
    valid.setenv("SIMSID_RETENTION_DAYS", "30")
    assert load().simsid_retention_days == 30
    valid.setenv("SIMSID_RETENTION_DAYS", "0")
    with pytest.raises(SettingsError) as error:
        load()
    assert set(problems_of(error)) == {"SIMSID_RETENTION_DAYS"}


URL_PASSWORD = "Pa55-w0rd-in-the-url"


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("SIMSID_RECONCILE_URL", f"https://reader:{URL_PASSWORD}@lists.example.org/list.csv"),
        ("SIMSID_RECONCILE_URL", f"http://reader:{URL_PASSWORD}@127.0.0.1:8080/list.csv"),
        ("SIMSID_UPSTREAM_URL", f"https://bot:{URL_PASSWORD}@decisions.example.org/hook"),
        ("SIMSID_UPSTREAM_URL", f"https://{URL_PASSWORD}@decisions.example.org/hook"),
        ("SLACK_API_URL", f"https://bot:{URL_PASSWORD}@slack-proxy.example.org/api/"),
    ],
)
def test_a_url_with_credentials_is_refused_without_showing_them(
    valid: pytest.MonkeyPatch, name: str, url: str
) -> None:
    """Accepted before: the password then reached an exception's text (and a traceback)."""
    valid.setenv("SIMSID_UPSTREAM_SECRET", "9f2c4e8a1b7d3f6e0a5c")
    valid.setenv(name, url)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "user name or password" in raised.value.problems[name]
    assert URL_PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("http://decisions.example.org/hook", False),
        ("http://10.0.0.7:8080/hook", False),
        ("https://decisions.example.org/hook", True),
        ("http://127.0.0.1:8080/hook", True),
        ("http://localhost/hook", True),
        ("http://[::1]:8080/hook", True),
    ],
)
def test_upstream_url_over_plain_http_only_to_this_machine(
    valid: pytest.MonkeyPatch, url: str, accepted: bool
) -> None:
    """Plain http only to this machine: decisions, signed but readable, must not cross the
    network in the clear (SIMSID_RECONCILE_URL is held to https the same way)."""
    valid.setenv("SIMSID_UPSTREAM_SECRET", "9f2c4e8a1b7d3f6e0a5c")
    valid.setenv("SIMSID_UPSTREAM_URL", url)
    if accepted:
        assert load_settings().simsid_upstream_url == url
        return
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "https://" in raised.value.problems["SIMSID_UPSTREAM_URL"]


@pytest.mark.parametrize("name", ["SIMSID_RECONCILE_URL", "SIMSID_UPSTREAM_URL", "SLACK_API_URL"])
def test_a_malformed_url_setting_is_named(valid: pytest.MonkeyPatch, name: str) -> None:
    valid.setenv("SIMSID_UPSTREAM_SECRET", "9f2c4e8a1b7d3f6e0a5c")
    valid.setenv(name, "https://[::1/list")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert name in raised.value.problems

"""Settings: every environment variable of README.md ("Configure"), read once and checked."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import urls
from bot.cron import cron_trigger

_USER_OR_GROUP = re.compile(r"^[UWS][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_PLACEHOLDERS = {"changeme", "change-me", "xoxb-your-token", "todo", "secret"}
# A shared secret shorter than this can be guessed offline from one signed request.
SECRET_MIN_LENGTH = 16
# Left in a secret, these mean it was copied from an example and never changed.
_NEVER_CHANGED = ("changeme", "changethis", "replaceme", "replacethis", "placeholder")
# Words that make up placeholder secrets ("your-webhook-secret-here"); what is left once
# they are taken out must still look like something generated.
_FILLER_WORDS = re.compile(
    r"your|my|the|simsid|webhook|upstream|signing|shared|secret|key|token|value|here|"
    r"example|password|test|change|replace|please|this|me|todo|xxx+"
)

Purpose = Literal["serve", "socket", "worker", "store", "keys", "digest"]

# Which settings each kind of command cannot run without.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "store": ("simsid_encryption_keys",),
    "keys": ("simsid_encryption_keys",),
    "worker": (
        "slack_bot_token",
        "simsid_encryption_keys",
        "simsid_admins",
        "simsid_default_channel",
    ),
    "digest": ("slack_bot_token", "simsid_encryption_keys", "simsid_default_channel"),
    "serve": (
        "slack_bot_token",
        "slack_signing_secret",
        "simsid_encryption_keys",
        "simsid_admins",
        "simsid_default_channel",
    ),
    "socket": (
        "slack_bot_token",
        "slack_app_token",
        "simsid_encryption_keys",
        "simsid_admins",
        "simsid_default_channel",
    ),
}


def _split(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable):
        return [str(part).strip() for part in value if str(part).strip()]
    raise ValueError("expected a comma-separated list")


def slack_principals(value: object) -> list[str]:
    """Slack user (U…, W…) and user group (S…) ids from a comma-separated list, as
    SIMSID_ADMINS takes them; ValueError naming those that are not."""
    ids = _split(value)
    bad = [i for i in ids if not _USER_OR_GROUP.match(i)]
    if bad:
        raise ValueError(f"not Slack user (U…) or user group (S…) ids: {', '.join(bad)}")
    return ids


def _weak_secret(value: str) -> str | None:
    """Why `value` is too weak to sign with, or None when it will do."""
    if len(value) < SECRET_MIN_LENGTH:
        return f"is shorter than {SECRET_MIN_LENGTH} characters"
    squashed = re.sub(r"[^a-z0-9]", "", value.lower())
    left = _FILLER_WORDS.sub("", squashed)
    if any(word in squashed for word in _NEVER_CHANGED) or len(set(left)) < 6:
        return "is a placeholder, not a generated secret"
    return None


class SettingsError(Exception):
    """Settings are missing or malformed; `problems` maps variable name to reason."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {name}: {why}" for name, why in sorted(problems.items()))
        super().__init__(f"invalid settings:\n{lines}")


class Settings(BaseSettings):
    """The bot's configuration, from the environment (and a `.env` file if present)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str = "sqlite:///simsid.db"
    simsid_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    simsid_webhook_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    simsid_admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    simsid_default_channel: str | None = None
    simsid_digest_cron: str = "0 8 * * 1-5"
    simsid_timezone: str = "Europe/London"
    # Bounded: a reminder a year on is never; beyond that the scheduler cannot count.
    simsid_remind_after_hours: float = Field(default=24.0, ge=0, le=8784, allow_inf_nan=False)
    simsid_upstream_url: str | None = None
    simsid_upstream_secret: SecretStr | None = None
    simsid_retention_days: int = Field(default=90, ge=1, le=36500)  # a cutoff datetime can hold
    # Admins needed to remove an installation: 2 is the two-person rule.
    simsid_remove_approvals: int = 1
    simsid_reconcile_url: str | None = None
    simsid_reconcile_token: SecretStr | None = None
    simsid_reconcile_cron: str = "15 * * * *"
    # A bearer token for /metrics on the main port; without it only loopback may scrape.
    simsid_metrics_token: SecretStr | None = None
    port: int = Field(default=3000, ge=0, le=65535)
    web_concurrency: int | None = Field(default=None, ge=1, le=256)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # json: one object a line (bot/logging_setup.py), for a log collector to index.
    log_format: Literal["text", "json"] = "text"

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and value.strip().lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder, not a real value")
        return value

    @field_validator("web_concurrency", mode="before")
    @classmethod
    def _blank_is_default(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        why = urls.problem(value, http_anywhere=True)
        if why:
            raise ValueError(why)
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        # Heroku-style URLs name a scheme SQLAlchemy 2 no longer accepts.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not re.match(r"^[a-z0-9+]+://", value):
            raise ValueError("must be a SQLAlchemy URL such as sqlite:///simsid.db")
        # The two databases the bot is built and tested for, with the drivers it installs.
        if not value.startswith(("sqlite://", "sqlite+pysqlite://", "postgresql+psycopg://")):
            raise ValueError("must be a SQLite (sqlite:///file.db) or PostgreSQL URL")
        return value

    @field_validator("simsid_encryption_keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> list[str]:
        keys = _split(value.get_secret_value() if isinstance(value, SecretStr) else value)
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                raise ValueError(
                    f"key {position} is not a Fernet key (make one with `simsid-bot keys generate`)"
                ) from None
        return keys

    @field_validator("simsid_webhook_secret", mode="before")
    @classmethod
    def _webhook_secrets(cls, value: object) -> list[str]:
        secrets = _split(value)
        for position, secret in enumerate(secrets, start=1):
            why = _weak_secret(secret)
            if why:
                # Anyone who guesses it can forge installs (and enable bypass-auth apps).
                where = f"secret {position} " if len(secrets) > 1 else ""
                raise ValueError(f"{where}{why}; make one with `openssl rand -hex 32`")
        return secrets

    @field_validator("simsid_upstream_secret", mode="before")
    @classmethod
    def _upstream_secret(cls, value: object) -> object:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and not raw.strip():
            return None
        if isinstance(raw, str):
            why = _weak_secret(raw)
            if why:
                raise ValueError(f"{why}; make one with `openssl rand -hex 32`")
        return value

    @field_validator("simsid_admins", mode="before")
    @classmethod
    def _admins(cls, value: object) -> list[str]:
        return slack_principals(value)

    @field_validator("simsid_default_channel", mode="before")
    @classmethod
    def _channel(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
        if isinstance(value, str) and not CHANNEL_ID.match(value):
            raise ValueError("must be a channel id such as C0123456789, not a name")
        return value

    @field_validator("simsid_digest_cron", "simsid_reconcile_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            cron_trigger(value, ZoneInfo("UTC"))
        except ValueError as exc:
            raise ValueError(f"is not a crontab expression: {exc}") from None
        return value

    @field_validator("simsid_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone such as Europe/London") from None
        return value

    @field_validator("simsid_upstream_url")
    @classmethod
    def _upstream_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        why = urls.problem(value) if value is not None else None
        if why:
            raise ValueError(why)
        return value

    @field_validator("simsid_remove_approvals", mode="before")
    @classmethod
    def _remove_approvals(cls, value: object) -> object:
        text = str(value).strip() if value is not None else ""
        if text not in ("1", "2"):
            raise ValueError("must be 1, or 2 for a two-person rule")
        return int(text)

    @field_validator("simsid_reconcile_url")
    @classmethod
    def _reconcile_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is None or (value.startswith("file://") and len(value) > 8):
            return value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an https:// URL with a host, or a file:// URL")
        why = urls.problem(value)
        if why:
            raise ValueError(why)
        return value

    @field_validator("simsid_reconcile_token", mode="before")
    @classmethod
    def _reconcile_token(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _upstream_needs_secret(self) -> Settings:
        if self.simsid_upstream_url and self.simsid_upstream_secret is None:
            raise ValueError("SIMSID_UPSTREAM_SECRET is required with SIMSID_UPSTREAM_URL")
        return self

    # -- derived views -------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.simsid_timezone)

    @property
    def admin_users(self) -> frozenset[str]:
        return frozenset(i for i in self.simsid_admins if not i.startswith("S"))

    @property
    def admin_groups(self) -> tuple[str, ...]:
        return tuple(i for i in self.simsid_admins if i.startswith("S"))

    def encryption_keys(self) -> list[str]:
        return [k.get_secret_value() for k in self.simsid_encryption_keys]

    def webhook_secrets(self) -> list[str]:
        return [k.get_secret_value() for k in self.simsid_webhook_secret]

    def missing(self, purpose: Purpose) -> dict[str, str]:
        """Every setting `purpose` needs but lacks, named."""
        return {
            name.upper(): "is required"
            for name in _REQUIRED.get(purpose, ())
            if getattr(self, name) in (None, [], "")
        }

    def require(self, purpose: Purpose) -> Settings:
        """Raise SettingsError naming every setting `purpose` needs but lacks."""
        missing = self.missing(purpose)
        if missing:
            raise SettingsError(missing)
        return self


def load_settings(purpose: Purpose | None = None, **overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into SettingsError;
    with `purpose`, also those it needs but lacks. Every problem is named at once."""
    problems: dict[str, str] = {}
    # A field that fails is read again at its default, so that the others are checked
    # too: the settings-wide checks (and what `purpose` lacks) only run once all parse.
    defaults: dict[str, object] = {}
    for _ in range(3):
        try:
            settings = Settings(**{**overrides, **defaults})  # type: ignore[arg-type]
        except UnicodeDecodeError:
            raise SettingsError({".env": "not UTF-8 text"}) from None
        except ValidationError as exc:
            found = _problems(exc)
            problems = {**found, **problems}
            for name in found:
                for field in _FIELDS_OF.get(name, (name.lower(),)):
                    if field in Settings.model_fields:
                        default = Settings.model_fields[field].get_default(
                            call_default_factory=True
                        )
                        defaults[field] = default
            continue
        if purpose is not None:
            problems = {**settings.missing(purpose), **problems}
        if problems:
            raise SettingsError(problems)
        return settings
    raise SettingsError(problems)


# The settings-wide check names the secret; reading the URL at its default lifts it.
_FIELDS_OF = {"SIMSID_UPSTREAM_SECRET": ("simsid_upstream_secret", "simsid_upstream_url")}


def _problems(exc: ValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]).upper() if error["loc"] else "SETTINGS"
        message = str(error["msg"]).removeprefix("Value error, ")
        if field == "SETTINGS" and "SIMSID_UPSTREAM_SECRET" in message:
            field = "SIMSID_UPSTREAM_SECRET"
        problems.setdefault(field, message)
    return problems


def exit_on_settings_error(error: SettingsError) -> None:
    """Print the problems and exit 2: bad settings stop the bot naming each variable."""
    print(f"simsid-bot: {error}", file=sys.stderr)
    raise SystemExit(2)

"""The sandbox's pretend workspace: its people, channels, example apps and generated secrets."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from bot.config import Settings
from store import applications
from store.db import Database

TEAM_ID = "T0SANDBOX"  # the team FakeSlack's auth.test answers, so the bot accepts our requests
ADMIN = "UADMIN"
SECOND_ADMIN = "UADMIN2"
GUEST = "UGUEST"
# Removing takes two admins here, to show the two-person rule (SIMSID_REMOVE_APPROVALS=2).
REMOVE_APPROVALS = 2
DEFAULT_CHANNEL = "C0INSTALLS"
PORTAL_CHANNEL = "C0PORTAL"
# A short reminder delay so that someone trying the sandbox sees a reminder thread appear.
REMIND_AFTER_HOURS = 0.05


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    admin: bool


@dataclass(frozen=True)
class ExampleApp:
    id: str
    name: str
    channel: str | None
    bypass_auth: bool
    sims_primary: bool


PEOPLE = (
    Person(ADMIN, "Ada Admin", admin=True),
    Person(SECOND_ADMIN, "Bea Admin", admin=True),
    Person(GUEST, "Gus Guest", admin=False),
)
CHANNEL_NAMES = {DEFAULT_CHANNEL: "sims-installs", PORTAL_CHANNEL: "parent-portal"}
# One app waits for approval; the other bypasses it, in its own channel, to show both paths.
EXAMPLE_APPS = (
    ExampleApp("app-homework", "Homework Hub", None, bypass_auth=False, sims_primary=False),
    ExampleApp(
        "app-parent-portal", "Parent Portal", PORTAL_CHANNEL, bypass_auth=True, sims_primary=True
    ),
)


@dataclass(frozen=True)
class Secrets:
    """What Slack and SIMS ID would share with the bot; made fresh for each sandbox run."""

    bot_token: str
    signing_secret: str
    webhook_secret: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            bot_token="xoxb-sandbox-" + secrets.token_hex(12),
            signing_secret=secrets.token_hex(32),
            webhook_secret=secrets.token_hex(32),
        )


def key_path(db_path: Path) -> Path:
    """Where the database's encryption key lives: beside it, `sandbox.db.key`."""
    return db_path.with_name(db_path.name + ".key")


def load_or_create_key(db_path: Path) -> str:
    """The Fernet key of this sandbox database, created (mode 0600) on first use.

    It is kept because the database holds client secrets encrypted under it: a new key
    on every start would leave a restarted sandbox unable to show its own secrets.
    """
    path = key_path(db_path)
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    key = Fernet.generate_key().decode("ascii")
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL and the mode at creation: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key


def sandbox_settings(*, api_url: str, db_path: Path, key: str, shared: Secrets) -> Settings:
    """Settings from these values alone, whatever SLACK_* or SIMSID_* the environment holds."""
    # Every field is passed explicitly: pydantic-settings reads the environment for any
    # field left out, and a real SIMSID_UPSTREAM_URL must never receive sandbox decisions.
    values: dict[str, Any] = {
        name: field.get_default(call_default_factory=True)
        for name, field in Settings.model_fields.items()
    }
    values.update(
        slack_bot_token=shared.bot_token,
        slack_signing_secret=shared.signing_secret,
        slack_app_token=None,
        slack_api_url=api_url,
        database_url=f"sqlite:///{db_path.resolve()}",
        simsid_encryption_keys=key,
        simsid_webhook_secret=shared.webhook_secret,
        simsid_admins=f"{ADMIN},{SECOND_ADMIN}",
        simsid_remove_approvals=REMOVE_APPROVALS,
        simsid_default_channel=DEFAULT_CHANNEL,
        simsid_remind_after_hours=REMIND_AFTER_HOURS,
        simsid_upstream_url=None,
        simsid_upstream_secret=None,
    )
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # a pydantic-settings init argument, not a field


def register_examples(db: Database) -> None:
    """Register (or refresh) the example applications; safe on every start."""
    with db.session() as session:
        for app in EXAMPLE_APPS:
            applications.register(
                session,
                app_id=app.id,
                name=app.name,
                channel=app.channel or "",
                bypass_auth=app.bypass_auth,
                sims_primary=app.sims_primary,
            )

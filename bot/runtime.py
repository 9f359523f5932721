"""Start-up: open the database, install the vault's keys, and check they fit each other."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from store import migrate, vault
from store.db import Database, DatabaseUnavailable
from store.keyring_check import check_keys

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start as configured; the message says what to fix."""


def open_database(settings: Settings) -> Database:
    """The database, migrated if it is the embedded SQLite, with the vault's keys checked."""
    keys = settings.encryption_keys()
    if not keys:
        raise StartupError("SIMSID_ENCRYPTION_KEYS: is required")
    vault.configure(keys)
    db = Database(settings.database_url)
    try:
        if db.is_sqlite:
            # The embedded default must work with no setup step: migrate on start.
            migrate.upgrade(db)
        elif not migrate.is_current(db):
            raise StartupError(
                "DATABASE_URL: the schema is not current; run `simsid-bot db upgrade` first"
            )
        with db.session() as session:
            check_keys(session)
    except vault.VaultError as exc:
        raise StartupError(f"SIMSID_ENCRYPTION_KEYS: {exc}") from None
    except (DatabaseUnavailable, DBAPIError) as exc:
        raise unreachable(exc) from None
    except migrate.UnknownRevision as exc:
        raise StartupError(unknown_revision(exc)) from None
    return db


def unreachable(exc: Exception) -> StartupError:
    """What to tell an operator whose database cannot be opened (its driver's own words:
    "Connection refused", "unable to open database file", "file is not a database")."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return StartupError(f"DATABASE_URL: the database cannot be opened ({first_line})")


def unknown_revision(exc: migrate.UnknownRevision) -> str:
    """What to tell an operator whose database is ahead of this release."""
    return (
        f"DATABASE_URL: the database was migrated by a release this one does not know ({exc}); "
        "run the release that wrote it, or restore a backup"
    )

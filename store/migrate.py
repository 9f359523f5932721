"""Alembic migrations, driven from code so no alembic.ini has to be found at run time."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from store.db import MIGRATIONS, Database


def _config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class UnknownRevision(Exception):
    """The database was migrated by a release this code does not know (newer, or a branch)."""


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to `revision`; UnknownRevision when the database is ahead of us."""
    config = _config(db)
    try:
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except CommandError as exc:
        raise UnknownRevision(str(exc)) from None


def is_current(db: Database) -> bool:
    """True when the database is at the newest migration."""
    current, head = revisions(db)
    if current is not None and current != head:
        try:
            ScriptDirectory.from_config(_config(db)).get_revision(current)
        except CommandError as exc:
            raise UnknownRevision(str(exc)) from None
    return current == head


def revisions(db: Database) -> tuple[str | None, str]:
    """The database's migration (None before the first) and the newest this release has."""
    head = ScriptDirectory.from_config(_config(db)).get_current_head()
    with db.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if head is None:  # pragma: no cover  (the release ships its migrations)
        raise UnknownRevision("this release has no migrations")
    return current, head


def revision(db: Database, message: str) -> None:
    """Autogenerate a new migration from the models (a developer's tool)."""
    config = _config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def check(db: Database) -> None:
    """Raise if the models and the migrations disagree."""
    config = _config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.check(config)

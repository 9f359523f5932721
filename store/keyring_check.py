"""Start-up checks and rotation for the vault's keys against what the database holds."""

from __future__ import annotations

from sqlalchemy import String, column, select, table, update
from sqlmodel import Session

from store import vault
from store.models import Meta
from store.sqlutil import insert_ignore, rowcount

CANARY_KEY = "vault_canary"
CANARY_TEXT = "simsid-bot vault canary"

# Raw views of the encrypted columns: rotation works on tokens, never on plaintext.
_credential = table("credential", column("installation_id"), column("secret", String))
_meta = table("meta", column("key", String), column("value", String))


def check_keys(session: Session) -> None:
    """Fail loudly (VaultError) when the configured keys cannot read this database's secrets.

    The first start writes a canary encrypted under the first key; later starts decrypt it.
    """
    token = session.scalar(select(_meta.c.value).where(_meta.c.key == CANARY_KEY))
    if token is None:
        # Processes starting together on a new database (the Procfile's web and worker)
        # all find no canary: the first insert wins, the others wait for it and read it.
        if insert_ignore(session, Meta, [{"key": CANARY_KEY, "value": CANARY_TEXT}]):
            return
        token = session.scalar(select(_meta.c.value).where(_meta.c.key == CANARY_KEY))
        if token is None:
            raise vault.VaultError("the vault canary was written and then vanished")
    if vault.decrypt(token) != CANARY_TEXT:
        raise vault.VaultError("the vault canary decrypted to something unexpected")


def verify_keys(session: Session) -> int:
    """check_keys without writing: how many stored secrets the keys opened (the canary and
    the newest client secret; 0 when nothing is encrypted yet); VaultError when one fails."""
    opened = 0
    canary = session.scalar(select(_meta.c.value).where(_meta.c.key == CANARY_KEY))
    if canary is not None:
        if vault.decrypt(canary) != CANARY_TEXT:
            raise vault.VaultError("the vault canary decrypted to something unexpected")
        opened += 1
    newest = session.scalar(
        select(_credential.c.secret)
        .where(_credential.c.secret.is_not(None))
        .order_by(_credential.c.installation_id.desc())
        .limit(1)
    )
    if newest is not None:
        vault.decrypt(newest)
        opened += 1
    return opened


def rotate_all(session: Session, *, batch: int = 500) -> int:
    """Re-encrypt every stored secret under the first key; returns how many were rotated."""
    rotated = 0
    last = -1
    while True:
        rows = session.execute(
            select(_credential.c.installation_id, _credential.c.secret)
            .where(_credential.c.installation_id > last, _credential.c.secret.is_not(None))
            .order_by(_credential.c.installation_id)
            .limit(batch)
        ).all()
        if not rows:
            break
        for installation_id, token in rows:
            # Only if unchanged since read: a Remove (secret destroyed) or a new secret
            # committed meanwhile must not be overwritten by the old one re-encrypted.
            result = session.execute(
                update(_credential)
                .where(
                    _credential.c.installation_id == installation_id,
                    _credential.c.secret == token,
                )
                .values(secret=vault.rotate_token(token))
            )
            rotated += rowcount(result)
        last = rows[-1][0]
    canary = session.scalar(select(_meta.c.value).where(_meta.c.key == CANARY_KEY))
    if canary is not None:
        session.execute(
            update(_meta).where(_meta.c.key == CANARY_KEY).values(value=vault.rotate_token(canary))
        )
    return rotated

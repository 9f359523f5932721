"""The one place secrets are encrypted and decrypted (MultiFernet, newest key first)."""

from __future__ import annotations

import secrets
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Dialect
from sqlalchemy.types import String, TypeDecorator

CLIENT_KEY_PREFIX = "ck_"


class VaultError(Exception):
    """The vault has no keys, or its keys cannot decrypt what is stored."""


class _Keyring:
    """The process's keys; a column type cannot take constructor arguments per query."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fernet: MultiFernet | None = None

    def configure(self, keys: list[str]) -> None:
        if not keys:
            raise VaultError("SIMSID_ENCRYPTION_KEYS is empty")
        with self._lock:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            raise VaultError("the vault has no keys: SIMSID_ENCRYPTION_KEYS is not configured")
        return self._fernet


keyring = _Keyring()


def configure(keys: list[str]) -> None:
    """Install the encryption keys, newest first, for this process."""
    keyring.configure(keys)


def generate_key() -> str:
    """A new Fernet key, for SIMSID_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode()


def encrypt(plaintext: str) -> str:
    return keyring.fernet.encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return keyring.fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise VaultError(
            "a stored secret cannot be decrypted with SIMSID_ENCRYPTION_KEYS"
        ) from None


def rotate_token(token: str) -> str:
    """Re-encrypt one token under the first key."""
    try:
        return keyring.fernet.rotate(token.encode()).decode()
    except InvalidToken:
        raise VaultError(
            "a stored secret cannot be decrypted with SIMSID_ENCRYPTION_KEYS"
        ) from None


def new_client_key() -> str:
    """`ck_` and 24 URL-safe characters."""
    return CLIENT_KEY_PREFIX + secrets.token_urlsafe(18)


def new_client_secret() -> str:
    """43 URL-safe characters."""
    return secrets.token_urlsafe(32)


class EncryptedSecret(TypeDecorator[str]):
    """A string column stored as a Fernet token: plaintext never reaches the database."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else decrypt(value)

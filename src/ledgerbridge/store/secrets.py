"""Encryption of connection secrets at rest (Fernet, with MultiFernet for key rotation).

The keys come from settings or a key file beside the database, never from the database itself:
a stolen database dump alone reveals no password or token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.store.tables.tenancy import Connection, WebhookSubscription


class SecretsKeyError(RuntimeError):
    """The configured keys are no Fernet keys, or cannot decrypt a stored secret (wrong or
    rotated-out key)."""


class SecretBox:
    def __init__(self, keys: list[str], source: str = "the given keys") -> None:
        if not keys:
            raise ValueError("at least one secret key is required")
        self.source = source
        """Where the keys came from, for an operator told that they do not fit."""
        self._fernet = MultiFernet([self._key(key, n, len(keys)) for n, key in enumerate(keys, 1)])

    def _key(self, key: str, number: int, count: int) -> Fernet:
        """A key that is no Fernet key is a set-up mistake, said with its place and remedy
        before anything starts, not a traceback."""
        try:
            return Fernet(key.encode())
        except ValueError as exc:
            raise SecretsKeyError(
                f"key {number} of {count} in {self.source} is not a Fernet key (32 url-safe "
                "base64-encoded bytes): make one with python -c 'from cryptography.fernet import "
                "Fernet; print(Fernet.generate_key().decode())'"
            ) from exc

    @classmethod
    def from_settings(cls, secret_keys: str | None, key_file: Path) -> SecretBox:
        """Use the configured keys, or a key file that is created (mode 0600) on first start."""
        if secret_keys:
            keys = [k.strip() for k in secret_keys.split(",") if k.strip()]
            return cls(keys, "LEDGERBRIDGE_SECRET_KEYS")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(Fernet.generate_key().decode())
        return cls([key_file.read_text().strip()], f"the key file {key_file.resolve()}")

    def seal(self, secrets: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretsKeyError(
                "stored secrets cannot be decrypted with the configured keys"
            ) from exc
        return data

    def rotate(self, token: str) -> str:
        """Re-encrypt with the primary key, so an old key can then be retired."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretsKeyError(
                "stored secrets cannot be decrypted with the configured keys"
            ) from exc


SEALED = ((Connection, "secrets"), (WebhookSubscription, "secret"))
"""Every column holding ciphertext of the box."""


def check_keys(sessions: sessionmaker[Session], box: SecretBox) -> None:
    """Refuse keys that cannot open every stored secret, before a process starts: a worker
    started in another directory makes a key file of its own there, and every job it took
    would then fail on the credentials; a key dropped before ``rotate-secrets`` ran likewise."""
    unreadable = total = 0
    with sessions() as session:
        for table, column in SEALED:
            for token in session.scalars(sa.select(getattr(table, column))):
                total += 1
                try:
                    box.open(token)
                except SecretsKeyError:
                    unreadable += 1
    if unreadable:
        raise SecretsKeyError(
            f"{unreadable} of the {total} stored secrets cannot be decrypted with {box.source}: "
            "give every process the same LEDGERBRIDGE_SECRET_KEYS (or the same "
            "LEDGERBRIDGE_SECRET_KEY_FILE), and keep an old key until rotate-secrets has run"
        )


def reseal_stored(sessions: sessionmaker[Session], box: SecretBox) -> int:
    """Re-encrypt every stored secret with the box's first key, so that the keys after it
    decrypt nothing any more and can be removed; returns how many were re-encrypted. Each row
    is locked while it is rewritten: a connector saving refreshed tokens meanwhile waits, and
    its write is not lost."""
    resealed = 0
    for table, column in SEALED:
        with sessions() as session:
            ids = session.scalars(sa.select(table.id)).all()
        for row_id in ids:
            with sessions.begin() as session:
                row = session.get(table, row_id, with_for_update=True)
                if row is not None:
                    setattr(row, column, box.rotate(getattr(row, column)))
                    resealed += 1
    return resealed

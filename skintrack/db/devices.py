"""Paired devices for LAN mode: one-time pairing codes exchanged for device tokens.

A code and a token are 128-bit random secrets (``secrets.token_urlsafe(16)``) shown once;
the database keeps only their SHA-256, so a copy of the database lets no one in. A code is
valid for ``CODE_TTL`` and for one pairing; a token until its device is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from skintrack.config import Settings
from skintrack.db import schema, store

CODE_TTL = timedelta(minutes=10)
SECRET_BYTES = 16  # 128 bits
MAX_NAME = 60
# Tables holding credentials: never exported, never restored from an archive (see archive.export).
TABLES = ("devices", "pairing_codes")


class PairingRefused(store.StoreError):
    """The pairing code is unknown, used or expired."""


@dataclass(frozen=True)
class Device:
    """A paired device: its id, name and the hash of its token."""

    id: int
    name: str
    token_sha256: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_code(settings: Settings, now: datetime | None = None) -> str:
    """A fresh one-time pairing code, valid for ``CODE_TTL``; only its hash is stored."""
    now = now or datetime.now()
    code = secrets.token_urlsafe(SECRET_BYTES)
    with schema.connect(settings) as con, schema.transaction(con):
        con.execute("DELETE FROM pairing_codes WHERE expires_at < ?", [now - CODE_TTL])  # keep the table small
        con.execute("INSERT INTO pairing_codes VALUES (?, ?, ?, NULL)", [digest(code), now, now + CODE_TTL])
    return code


def clean_name(name: str | None) -> str:
    """A device name fit to list: printable, at most ``MAX_NAME`` characters, "Phone" when empty."""
    text = "".join(c for c in (name or "") if c.isprintable()).strip()[:MAX_NAME]
    return text or "Phone"


def pair(settings: Settings, code: str, name: str | None = None, now: datetime | None = None) -> tuple[str, Device]:
    """Spend ``code`` on a new device; return its token (shown once) and the device."""
    now = now or datetime.now()
    token = secrets.token_urlsafe(SECRET_BYTES)
    with schema.connect(settings) as con, schema.transaction(con):
        found = con.execute(
            "SELECT expires_at, used_at FROM pairing_codes WHERE code_sha256 = ?", [digest(code or "")]
        ).fetchone()
        if found is None:
            raise PairingRefused("this pairing code is not known")
        if found[1] is not None:
            raise PairingRefused("this pairing code was already used; ask the computer for a new one")
        if found[0] < now:
            raise PairingRefused("this pairing code has expired; ask the computer for a new one")
        con.execute("UPDATE pairing_codes SET used_at = ? WHERE code_sha256 = ?", [now, digest(code)])
        device_id = con.execute(
            "INSERT INTO devices (name, token_sha256, created_at, last_seen) VALUES (?, ?, ?, ?) RETURNING id",
            [clean_name(name), digest(token), now, now],
        ).fetchone()[0]
    return token, Device(device_id, clean_name(name), digest(token))


def valid_tokens(settings: Settings) -> dict[str, int]:
    """The hash of every token not revoked, with its device id."""
    with schema.connect(settings) as con:
        rows = con.execute("SELECT token_sha256, id FROM devices WHERE revoked_at IS NULL").fetchall()
    return dict(rows)


def seen(settings: Settings, device_id: int, address: str, now: datetime | None = None) -> None:
    """Record that a device was just used, and from where."""
    with schema.connect(settings) as con:
        con.execute(
            "UPDATE devices SET last_seen = ?, last_address = ? WHERE id = ?",
            [now or datetime.now(), address, device_id],
        )


def listing(settings: Settings) -> pd.DataFrame:
    """Every device, newest first: id, name, created_at, last_seen, last_address, revoked_at."""
    with schema.connect(settings) as con:
        return con.execute(
            "SELECT id, name, created_at, last_seen, last_address, revoked_at FROM devices ORDER BY created_at DESC, id DESC"
        ).df()


def revoke(settings: Settings, device_id: int, now: datetime | None = None) -> None:
    """Revoke one device: its token fails from the next request on."""
    with schema.connect(settings) as con:
        found = con.execute("SELECT count(*) FROM devices WHERE id = ?", [int(device_id)]).fetchone()[0]
        if not found:
            raise store.NotFoundError(f"no device {device_id}")
        con.execute(
            "UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
            [now or datetime.now(), int(device_id)],
        )


def revoke_all(settings: Settings, now: datetime | None = None) -> int:
    """Revoke every device and every unused pairing code; return the number of devices revoked."""
    now = now or datetime.now()
    with schema.connect(settings) as con, schema.transaction(con):
        count = con.execute("SELECT count(*) FROM devices WHERE revoked_at IS NULL").fetchone()[0]
        con.execute("UPDATE devices SET revoked_at = ? WHERE revoked_at IS NULL", [now])
        con.execute("UPDATE pairing_codes SET used_at = ? WHERE used_at IS NULL", [now])
    return count

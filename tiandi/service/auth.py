"""Service tokens: bearer tokens with a role, kept hashed in a small SQLite table.

A token is ``tdi_<token id>_<secret>``: the id is public (listed, used to revoke), the
secret is 32 random bytes. Only the SHA-256 of the whole token is stored, so the table
never holds a usable token: :meth:`TokenStore.create` returns the token once and it
cannot be shown again. Each token has a role (:class:`ServiceRole`), a holder (the name
written to the audit log as the actor of its writes), an expiry, and may be revoked;
``field`` tokens are bound to one station.

The table lives in ``<TIANDI_HOME>/service/tokens.sqlite`` (:attr:`Settings.tokens_path`),
not beside the patches: the patch store may be PostGIS or a GeoPackage handed to QGIS
users, and credentials are the service's own concern with their own lifetime.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from tiandi._time import iso_utc
from tiandi.errors import AuthError, InputError

_SCHEMA = """CREATE TABLE IF NOT EXISTS service_tokens (
    token_id TEXT PRIMARY KEY NOT NULL, token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL, station_id TEXT, holder TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT)"""
_COLS = "token_id, role, station_id, holder, created_at, expires_at, revoked_at"
PREFIX = "tdi"


class ServiceRole(StrEnum):
    """What a token may do in the service."""

    OPERATOR = "operator"
    ECOLOGIST = "ecologist"
    PLATFORM = "platform"
    FIELD = "field"


@dataclass(frozen=True)
class TokenInfo:
    """A token as stored (never the token itself)."""

    token_id: str
    role: ServiceRole
    station_id: str | None
    holder: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


def token_hash(token: str) -> str:
    """The stored form of a token: SHA-256 hex of its text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(row: tuple[object, ...]) -> TokenInfo:
    tid, role, station, holder, created, expires, revoked = row
    return TokenInfo(
        str(tid),
        ServiceRole(str(role)),
        None if station is None else str(station),
        str(holder),
        datetime.fromisoformat(str(created)),
        datetime.fromisoformat(str(expires)),
        None if revoked is None else datetime.fromisoformat(str(revoked)),
    )


class TokenStore:
    """The token table at ``path`` (created on the first write)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @contextmanager
    def _con(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)  # owner only
                os.close(fd)
        elif not self.path.exists():
            raise AuthError(
                f"no service tokens exist yet ({self.path}); create one with "
                "`tiandi auth token create --role ROLE`"
            )
        try:
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"token table {self.path} cannot be opened: {exc}") from exc
        with closing(con):
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                if write:
                    con.execute(_SCHEMA)
                yield con
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    def create(
        self,
        role: ServiceRole | str,
        *,
        holder: str | None = None,
        station_id: str | None = None,
        days: float = 30.0,
        now: datetime | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token: its record and the token text (shown once, stored only hashed)."""
        role_ = _role(role)
        station = (station_id or "").strip() or None
        if role_ is ServiceRole.FIELD and station is None:
            raise InputError("a field token is bound to one station: pass --station ID")
        if role_ is not ServiceRole.FIELD and station is not None:
            raise InputError(f"--station {station!r} is only for field tokens, not {role_.value}")
        if not days > 0:
            raise InputError(f"--days {days} must be more than 0")
        created = (now or datetime.now(UTC)).astimezone(UTC)
        token_id = secrets.token_hex(4)
        token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
        name = (holder or "").strip() or f"{role_.value}-{token_id}"
        info = TokenInfo(
            token_id, role_, station, name, created, created + timedelta(days=days), None
        )
        with self._con(write=True) as con:
            con.execute(
                f"INSERT INTO service_tokens ({_COLS}, token_hash) VALUES (?,?,?,?,?,?,?,?)",
                (
                    token_id,
                    role_.value,
                    station,
                    name,
                    iso_utc(info.created_at),
                    iso_utc(info.expires_at),
                    None,
                    token_hash(token),
                ),
            )
        return info, token

    def tokens(self) -> list[TokenInfo]:
        """Every token record, oldest first (none when the table does not exist yet)."""
        if not self.path.exists():
            return []
        with self._con(write=True) as con:
            rows = con.execute(f"SELECT {_COLS} FROM service_tokens ORDER BY created_at, token_id")
            return [_info(r) for r in rows.fetchall()]

    def revoke(self, token_id: str, *, now: datetime | None = None) -> TokenInfo:
        """Revoke the token ``token_id`` (from then on refused); ``InputError`` if unknown."""
        when = iso_utc((now or datetime.now(UTC)).astimezone(UTC))
        with self._con(write=True) as con:
            con.execute(
                "UPDATE service_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_id = ?",
                (when, token_id),
            )
            row = con.execute(
                f"SELECT {_COLS} FROM service_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
        if row is None:
            raise InputError(
                f"token {token_id!r} is unknown; list the tokens with `tiandi auth token list`"
            )
        return _info(row)

    def authenticate(self, token: str, *, now: datetime | None = None) -> TokenInfo:
        """The record of a valid ``token``; ``AuthError`` (401) naming what is wrong."""
        if not token.startswith(f"{PREFIX}_"):
            raise AuthError(f"the bearer token is not a tiandi token (they start with {PREFIX}_)")
        with self._con(write=False) as con:
            row = con.execute(
                f"SELECT {_COLS} FROM service_tokens WHERE token_hash = ?", (token_hash(token),)
            ).fetchone()
        if row is None:
            raise AuthError("the bearer token is unknown; ask an operator for a token")
        info = _info(row)
        state = info.state((now or datetime.now(UTC)).astimezone(UTC))
        if state == "revoked":
            revoked = iso_utc(info.revoked_at or info.created_at)
            raise AuthError(
                f"token {info.token_id} was revoked at {revoked}; ask an operator for a new one",
                code="token_revoked",
            )
        if state == "expired":
            raise AuthError(
                f"token {info.token_id} expired at {iso_utc(info.expires_at)}; ask an operator "
                "for a new one",
                code="token_expired",
            )
        return info


def _role(role: ServiceRole | str) -> ServiceRole:
    try:
        return ServiceRole(role)
    except ValueError:
        raise InputError(
            f"role {role!r} is unknown; use one of: {', '.join(ServiceRole)}"
        ) from None

"""Staff accounts: users with a role, argon2 password hashes, server-side sessions.

- :func:`add_user` / :func:`set_password` store an argon2id hash (argon2-cffi defaults).
- :func:`authenticate` checks a name and password in constant-ish time (an unknown name
  still costs one hash verification, so timing does not tell which names exist).
- :func:`create_session` returns the cookie value; only its SHA-256 is stored, next to the
  session's CSRF token. :func:`session_user` resolves a cookie to the signed-in user.

Roles: ``admin`` (everything) and ``agent`` (inbox, conversations, corrections, live chats).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.archive import schema
from bot.archive.db import ArchiveDatabase
from bot.errors import KefuError

ROLES = ("admin", "agent")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD_CHARS = 10

_hasher = PasswordHasher()
# Verified against when the name is unknown, so the answer takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AccountError(KefuError):
    """A name, role or password that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class StaffSession:
    user: StaffUser
    csrf_token: str
    expires_at: float


def _check(name: str, role: str, password: str) -> None:
    if not NAME_PATTERN.match(name):
        raise AccountError("a user name is 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")


def add_user(database: ArchiveDatabase, name: str, role: str, password: str) -> StaffUser:
    """Create a user; raises :class:`AccountError` for a bad name/role/password or a taken name."""
    _check(name, role, password)
    try:
        with database.write() as connection:
            result = connection.execute(insert(schema.users).values(
                name=name, role=role, password_hash=_hasher.hash(password), created_at=time.time(), disabled=False,
            ))
            user_id = int(result.inserted_primary_key[0])
    except IntegrityError:
        raise AccountError(f"user {name!r} already exists") from None
    return StaffUser(user_id, name, role)


def set_password(database: ArchiveDatabase, name: str, password: str) -> None:
    """Replace a user's password and sign them out everywhere."""
    _check(name, "agent", password)
    with database.write() as connection:
        user_id = connection.scalar(select(schema.users.c.id).where(schema.users.c.name == name))
        if user_id is None:
            raise AccountError(f"no user named {name!r}")
        connection.execute(update(schema.users).where(schema.users.c.id == user_id)
                           .values(password_hash=_hasher.hash(password)))
        connection.execute(delete(schema.sessions).where(schema.sessions.c.user_id == user_id))


def set_disabled(database: ArchiveDatabase, name: str, disabled: bool) -> None:
    """Disable (or enable) a user; disabling also ends their sessions."""
    with database.write() as connection:
        user_id = connection.scalar(select(schema.users.c.id).where(schema.users.c.name == name))
        if user_id is None:
            raise AccountError(f"no user named {name!r}")
        connection.execute(update(schema.users).where(schema.users.c.id == user_id).values(disabled=disabled))
        if disabled:
            connection.execute(delete(schema.sessions).where(schema.sessions.c.user_id == user_id))


def list_users(database: ArchiveDatabase) -> list[dict]:
    """Every user (without hashes), by name."""
    columns = [schema.users.c[k] for k in ("id", "name", "role", "created_at", "disabled", "last_login_at")]
    with database.read() as connection:
        return [dict(row) for row in connection.execute(select(*columns).order_by(schema.users.c.name)).mappings()]


def authenticate(database: ArchiveDatabase, name: str, password: str) -> StaffUser | None:
    """The user when the name and password match an enabled account, else None."""
    with database.read() as connection:
        row = connection.execute(select(schema.users).where(schema.users.c.name == name)).mappings().first()
    if row is None or row["disabled"]:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        return None
    try:
        _hasher.verify(row["password_hash"], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    with database.write() as connection:
        values: dict = {"last_login_at": time.time()}
        if _hasher.check_needs_rehash(row["password_hash"]):
            values["password_hash"] = _hasher.hash(password)
        connection.execute(update(schema.users).where(schema.users.c.id == row["id"]).values(**values))
    return StaffUser(int(row["id"]), row["name"], row["role"])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(database: ArchiveDatabase, user: StaffUser, *, hours: int) -> tuple[str, StaffSession]:
    """A new session for ``user``; returns ``(cookie value, session)``."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = time.time()
    expires = now + hours * 3600
    with database.write() as connection:
        connection.execute(insert(schema.sessions).values(
            token_hash=_token_hash(token), user_id=user.id, csrf_token=csrf, created_at=now, expires_at=expires,
        ))
    return token, StaffSession(user, csrf, expires)


def session_user(database: ArchiveDatabase, token: str | None) -> StaffSession | None:
    """The live session of a cookie value, or None (unknown, expired, or user disabled)."""
    if not token or len(token) > 128:
        return None
    query = (
        select(schema.sessions.c.csrf_token, schema.sessions.c.expires_at, schema.users.c.id,
               schema.users.c.name, schema.users.c.role, schema.users.c.disabled)
        .join(schema.users, schema.users.c.id == schema.sessions.c.user_id)
        .where(schema.sessions.c.token_hash == _token_hash(token))
    )
    with database.read() as connection:
        row = connection.execute(query).mappings().first()
    if row is None or row["disabled"] or row["expires_at"] < time.time():
        return None
    return StaffSession(StaffUser(int(row["id"]), row["name"], row["role"]), row["csrf_token"], row["expires_at"])


def end_session(database: ArchiveDatabase, token: str | None) -> None:
    if not token:
        return
    with database.write() as connection:
        connection.execute(delete(schema.sessions).where(schema.sessions.c.token_hash == _token_hash(token)))

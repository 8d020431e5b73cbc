"""Staff accounts: argon2 hashes, sessions, and `kefu staff` on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.archive import accounts, audit, schema
from bot.archive.accounts import AccountError
from bot.archive.db import ArchiveDatabase
from tests.processes import REPO_ROOT


def test_users_sessions_and_hashes(sqlite_db: ArchiveDatabase) -> None:
    user = accounts.add_user(sqlite_db, "alice", "admin", "correct horse battery")
    with pytest.raises(AccountError, match="exists"):
        accounts.add_user(sqlite_db, "alice", "agent", "another password")
    with pytest.raises(AccountError, match="10 characters"):
        accounts.add_user(sqlite_db, "carol", "agent", "short")
    with pytest.raises(AccountError, match="role"):
        accounts.add_user(sqlite_db, "carol", "root", "long enough password")
    with sqlite_db.read() as connection:
        stored = connection.scalar(select(schema.users.c.password_hash))
    assert stored.startswith("$argon2id$") and "correct horse" not in stored

    assert accounts.authenticate(sqlite_db, "alice", "wrong password!") is None
    assert accounts.authenticate(sqlite_db, "nobody", "correct horse battery") is None
    assert accounts.authenticate(sqlite_db, "alice", "correct horse battery") == user

    cookie, session = accounts.create_session(sqlite_db, user, hours=1)
    assert accounts.session_user(sqlite_db, cookie) == session
    with sqlite_db.read() as connection:  # only a hash of the cookie is stored
        assert connection.scalar(select(schema.sessions.c.token_hash)) != cookie
    accounts.set_disabled(sqlite_db, "alice", True)
    assert accounts.session_user(sqlite_db, cookie) is None
    assert accounts.authenticate(sqlite_db, "alice", "correct horse battery") is None
    accounts.set_disabled(sqlite_db, "alice", False)
    cookie, _ = accounts.create_session(sqlite_db, user, hours=1)
    accounts.set_password(sqlite_db, "alice", "a brand new password")
    assert accounts.session_user(sqlite_db, cookie) is None  # a new password signs out everywhere
    assert accounts.authenticate(sqlite_db, "alice", "a brand new password") == user


def test_audit_log_records_and_filters(sqlite_db: ArchiveDatabase) -> None:
    audit.record(sqlite_db, "alice", "view", "c1")
    audit.record(sqlite_db, "bob", "correct", "c1/1-0", {"to": "track_order"})
    rows, total = audit.entries(sqlite_db, user="bob")
    assert total == 1 and rows[0]["action"] == "correct" and '"to": "track_order"' in rows[0]["detail"]
    with pytest.raises(ValueError):
        audit.record(sqlite_db, "alice", "viewed", "c1")


def _kefu(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
                          cwd=REPO_ROOT, capture_output=True, text=True, input=stdin, timeout=60)


def test_staff_cli_adds_users_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'archive.sqlite3'}"
    env = {"KEFU_ARCHIVE_URL": url, "KEFU_VAR_DIR": str(tmp_path), "KEFU_STAFF_PASSWORD": "scripted password 1"}
    added = _kefu("staff", "add-user", "dora", "--role", "agent", env=env)
    assert added.returncode == 0, added.stderr
    assert "dora" in _kefu("staff", "list-users", env=env).stdout
    again = _kefu("staff", "add-user", "dora", "--role", "agent", env=env)
    assert again.returncode == 2 and "already exists" in again.stderr
    no_password = {k: v for k, v in env.items() if k != "KEFU_STAFF_PASSWORD"}
    piped = _kefu("staff", "add-user", "eve", "--role", "admin", env=no_password, stdin="")
    assert piped.returncode != 0 and "KEFU_STAFF_PASSWORD" in piped.stderr
    database = ArchiveDatabase.open(url)
    try:
        assert accounts.authenticate(database, "dora", "scripted password 1") is not None
    finally:
        database.close()


def test_expired_sessions_are_refused(sqlite_db: ArchiveDatabase) -> None:
    from bot.archive.retention import delete_expired_sessions

    user = accounts.add_user(sqlite_db, "frank", "agent", "frank password 1")
    cookie, _ = accounts.create_session(sqlite_db, user, hours=1)
    assert accounts.session_user(sqlite_db, cookie) is not None
    assert delete_expired_sessions(sqlite_db, now=time.time() + 7200) == 1
    assert accounts.session_user(sqlite_db, cookie) is None

"""Archive and staff settings, read from the environment in one place, cast and validated here.

Every setting has a safe default: the archive is a SQLite file under ``var/``, redaction is
on, transcripts are kept for a year, session cookies are ``Secure``. See README "Staff review".

| variable | default | meaning |
|---|---|---|
| ``KEFU_ARCHIVE_URL`` | ``sqlite:///<var>/archive.sqlite3`` | SQLAlchemy URL; ``postgresql://…`` for PostgreSQL |
| ``KEFU_ARCHIVE_REDACT`` | ``1`` | mask card numbers, e-mails and phones before writing |
| ``KEFU_ARCHIVE_RETENTION_DAYS`` | ``365`` | delete transcripts idle for longer; ``0`` keeps them forever |
| ``KEFU_ARCHIVE_RETENTION_INTERVAL_S`` | ``3600`` | how often the retention job runs |
| ``KEFU_ARCHIVER`` | ``1`` | run the archiver inside ``kefu serve`` |
| ``KEFU_ARCHIVE_GROUP`` | ``kefu-archiver`` | Redis consumer group name |
| ``KEFU_ARCHIVE_BATCH`` | ``200`` | feed entries per read |
| ``KEFU_ARCHIVE_CLAIM_IDLE_MS`` | ``30000`` | pending entries idle this long are claimed from dead consumers |
| ``KEFU_STAFF_COOKIE_SECURE`` | ``1`` | ``0`` only for plain-http deployments outside localhost |
| ``KEFU_STAFF_SESSION_HOURS`` | ``12`` | staff session lifetime |
| ``KEFU_STAFF_LOGIN_ATTEMPTS`` | ``10`` | failed logins per address (and per name) per window |
| ``KEFU_STAFF_LOGIN_WINDOW_S`` | ``900`` | the rate-limit window |
| ``KEFU_STAFF_TIMEZONE`` | ``UTC`` | IANA zone for times, date filters and per-day reports |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import PROJECT_ROOT, SettingsError, env_int as _env_int


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _env_timezone(name: str) -> str:
    raw = os.environ.get(name, "").strip() or "UTC"
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name} must be an IANA time zone such as Asia/Shanghai, got {raw!r}") from None
    return raw


@dataclass(frozen=True)
class ArchiveSettings:
    """Where and how transcripts are archived, and how staff sign in."""

    database_url: str
    redact: bool = True
    retention_days: int = 365
    retention_interval_s: int = 3600
    run_in_server: bool = True
    consumer_group: str = "kefu-archiver"
    batch_size: int = 200
    # A consumer that has not acked an entry for this long is presumed dead; its entries are
    # claimed (XAUTOCLAIM) by a live one. Longer than the slowest batch commit.
    claim_idle_ms: int = 30_000
    cookie_secure: bool = True
    session_hours: int = 12
    login_attempts: int = 10
    login_window_s: int = 900
    timezone: str = "UTC"


def default_database_url(var_dir: Path) -> str:
    """The embedded default: a SQLite file under the var folder."""
    return f"sqlite:///{(var_dir / 'archive.sqlite3').resolve()}"


def load_archive_settings(var_dir: Path | None = None) -> ArchiveSettings:
    """Read ``KEFU_ARCHIVE_*`` / ``KEFU_STAFF_*``; ``var_dir`` defaults like the server's."""
    var_dir = var_dir or Path(os.environ.get("KEFU_VAR_DIR", PROJECT_ROOT / "var"))
    url = os.environ.get("KEFU_ARCHIVE_URL", "").strip() or default_database_url(var_dir)
    group = os.environ.get("KEFU_ARCHIVE_GROUP", "").strip() or "kefu-archiver"
    return ArchiveSettings(
        database_url=url,
        redact=_env_bool("KEFU_ARCHIVE_REDACT", True),
        retention_days=_env_int("KEFU_ARCHIVE_RETENTION_DAYS", 365),
        retention_interval_s=_env_int("KEFU_ARCHIVE_RETENTION_INTERVAL_S", 3600, minimum=1),
        run_in_server=_env_bool("KEFU_ARCHIVER", True),
        consumer_group=group,
        batch_size=_env_int("KEFU_ARCHIVE_BATCH", 200, minimum=1),
        claim_idle_ms=_env_int("KEFU_ARCHIVE_CLAIM_IDLE_MS", 30_000, minimum=100),
        cookie_secure=_env_bool("KEFU_STAFF_COOKIE_SECURE", True),
        session_hours=_env_int("KEFU_STAFF_SESSION_HOURS", 12, minimum=1),
        login_attempts=_env_int("KEFU_STAFF_LOGIN_ATTEMPTS", 10, minimum=1),
        login_window_s=_env_int("KEFU_STAFF_LOGIN_WINDOW_S", 900, minimum=1),
        timezone=_env_timezone("KEFU_STAFF_TIMEZONE"),
    )

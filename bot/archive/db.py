"""The archive database: one SQLAlchemy engine, migrated to the newest schema on open.

``ArchiveDatabase.open(url)`` creates the engine, runs the Alembic migrations (under a lock,
so replicas starting together migrate once) and returns the handle. Use :meth:`read` for
queries and :meth:`write` for a transaction that commits on success. Both are blocking:
async callers run them in a thread (``asyncio.to_thread``).

SQLite (the default) runs in WAL mode so the staff pages read while the archiver writes;
a write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue on the lock
instead of failing half-way. ``postgresql://`` URLs use the psycopg 3 driver.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from bot.errors import KefuError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 5
# Any fixed number: the PostgreSQL advisory lock that serialises migrations.
_MIGRATION_LOCK_KEY = 0x6B656675


class ArchiveError(KefuError):
    """The archive database cannot be opened or migrated; the message says why."""


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean the psycopg 3 driver (the one we ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_engine(url: str, busy_timeout_s: float) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Pooled connections: opening one runs the PRAGMAs and closing the last one checkpoints
    # the WAL, which made a new connection per archived batch cost more than the batch.
    engine = create_engine(url, poolclass=QueuePool, pool_size=4, max_overflow=4,
                           connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("kefu_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class ArchiveDatabase:
    """A migrated archive database. Create with :meth:`open`; :meth:`close` at exit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True, busy_timeout_s: float = 15.0) -> "ArchiveDatabase":
        """Connect to ``url`` and bring the schema up to date; raises :class:`ArchiveError`.

        ``busy_timeout_s``: how long a SQLite writer waits for another writer's lock before
        the operation fails (and the archiver retries it).
        """
        url = normalise_url(url)
        try:
            if url.startswith("sqlite"):
                engine = _sqlite_engine(url, busy_timeout_s)
            else:
                # A short connect timeout: an unreachable server must not hold up `kefu serve`.
                engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                                       connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
        except Exception as exc:  # bad URL, missing driver
            raise ArchiveError(f"cannot use archive URL {make_url(url).render_as_string(hide_password=True)}: {exc}") from exc
        database = cls(engine)
        if migrate:
            database.upgrade()
        return database

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def upgrade(self) -> None:
        """Run every Alembic migration not applied yet (a no-op when up to date)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self._migration_lock(), self.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.dialect == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                    connection.commit()
            return
        path = self.engine.url.database
        if not path or path == ":memory:":
            yield
            return
        with open(f"{path}.migrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for queries (no commit)."""
        with self.engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits when the block ends and rolls back on an error."""
        with self.engine.connect().execution_options(kefu_write=True) as connection:
            with connection.begin():
                yield connection

    def close(self) -> None:
        self.engine.dispose()

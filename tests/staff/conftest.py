"""Fixtures for the archive and the staff pages: SQLite and PostgreSQL archives, a pair of
real `kefu serve` processes sharing Redis and the archive, and an HTTP client that signs in.

PostgreSQL tests use the local server (127.0.0.1:5432, trust auth) in a database of their
own, ``kefu_test_<random>``, dropped afterwards; they are skipped when it is unreachable.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from bot.archive import accounts
from bot.archive.db import ArchiveDatabase
from tests.bot.conftest import KefuServer
from tests.redis_keys import delete_prefix

T = TypeVar("T")
ADMIN = ("alice", "alice-password-1")
AGENT = ("bob", "bob-password-12")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from sync code, even where a loop is already running
    (Playwright's sync API keeps one on the main thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable here"
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; dropped at the end."""
    if not _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import psycopg

    name = f"kefu_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all(database: ArchiveDatabase) -> None:
    from bot.archive.schema import metadata

    with database.write() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveDatabase]:
    """A migrated, empty archive: SQLite in tmp, and the same tests again on PostgreSQL."""
    if request.param == "sqlite":
        database = ArchiveDatabase.open(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
    else:
        database = ArchiveDatabase.open(request.getfixturevalue("postgres_url"))
        _truncate_all(database)
    yield database
    database.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[ArchiveDatabase]:
    database = ArchiveDatabase.open(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
    yield database
    database.close()


class StaffClient:
    """An HTTP client for the staff pages that signs in like a browser.

    The session cookie is ``Secure``; Python's cookie jar will not send it over plain http
    to 127.0.0.1 (browsers treat loopback as secure and do), so it is carried by hand.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=20.0)
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers.update(extra or {})
        return headers

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if "max-age=0" in header.lower() or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = self.http.get(path, headers=self._headers(kwargs.pop("headers", None)), **kwargs)  # type: ignore[arg-type]
        self._keep_cookies(response)
        match = re.search(r'name="csrf-token" content="([^"]*)"', response.text) if "html" in response.headers.get(
            "content-type", "") else None
        if match and match.group(1):
            self.csrf = match.group(1)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
             headers: dict[str, str] | None = None) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        response = self.http.post(path, data=form, headers=self._headers(headers))
        self._keep_cookies(response)
        return response

    def login(self, name: str, password: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        page = self.get("/staff/login", headers=headers)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        response = self.post("/staff/login", {"csrf_token": token, "name": name, "password": password},
                             headers=headers)
        if response.status_code == 303:
            self.get("/staff/")  # picks up the session's CSRF token
        return response

    def close(self) -> None:
        self.http.close()


class StaffCluster:
    """Two `kefu serve` processes sharing one Redis prefix and one SQLite archive."""

    def __init__(self, servers: list[KefuServer], archive_url: str, prefix: str, redis_url: str, var_dir: Path) -> None:
        self.servers = servers
        self.archive_url = archive_url
        self.prefix = prefix
        self.redis_url = redis_url
        self.var_dir = var_dir

    @property
    def a(self) -> KefuServer:
        return self.servers[0]

    @property
    def b(self) -> KefuServer:
        return self.servers[1]

    def base_url(self, server: KefuServer | None = None) -> str:
        return f"http://127.0.0.1:{(server or self.a).port}"

    def client(self, server: KefuServer | None = None) -> StaffClient:
        return StaffClient(self.base_url(server))

    def reload(self, model: Path) -> int:
        """Ask every server to load ``model`` (as `kefu reload` does); returns how many listen."""
        import redis.asyncio as aioredis

        from bot.reload import request_reload

        async def publish() -> int:
            client = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
            try:
                return await request_reload(client, self.prefix, model)
            finally:
                await client.aclose()

        return run_async(publish())

    def wait_archived(self, conversation_id: str, *, kinds: int = 1, timeout_s: float = 15.0) -> None:
        """Wait until the archive holds at least ``kinds`` customer messages of a conversation."""
        from sqlalchemy import select

        from bot.archive import schema

        database = ArchiveDatabase.open(self.archive_url, migrate=False)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                with database.read() as connection:
                    count = connection.scalar(select(schema.conversations.c.user_messages).where(
                        schema.conversations.c.id == conversation_id))
                if count is not None and count >= kinds:
                    return
                time.sleep(0.1)
        finally:
            database.close()
        raise AssertionError(f"conversation {conversation_id} not archived within {timeout_s}s")


@pytest.fixture(scope="session")
def staff_cluster(tiny_model: Path, tiny_project: Path, redis_url: str, action_server: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffCluster]:
    var_dir = tmp_path_factory.mktemp("staff")
    archive_url = f"sqlite:///{var_dir / 'archive.sqlite3'}"
    database = ArchiveDatabase.open(archive_url)
    accounts.add_user(database, ADMIN[0], "admin", ADMIN[1])
    accounts.add_user(database, AGENT[0], "agent", AGENT[1])
    database.close()
    prefix = f"kefu-test:{uuid.uuid4().hex[:12]}:"
    env = {"KEFU_ARCHIVE_URL": archive_url, "KEFU_ARCHIVE_CLAIM_IDLE_MS": "2000", "KEFU_STAFF_LOGIN_ATTEMPTS": "5"}
    servers: list[KefuServer] = []
    try:
        for name in ("a", "b"):
            server_dir = var_dir / name
            server_dir.mkdir()
            servers.append(KefuServer(model=tiny_model, project=tiny_project, redis_url=redis_url, prefix=prefix,
                                      action_endpoint=action_server, var_dir=server_dir, extra_env=env).start())
        yield StaffCluster(servers, archive_url, prefix, redis_url, var_dir)
    finally:
        for server in servers:
            server.stop()
        delete_prefix(redis_url, prefix)


@pytest.fixture
def admin_client(staff_cluster: StaffCluster) -> Iterator[StaffClient]:
    client = staff_cluster.client()
    assert client.login(*ADMIN).status_code == 303
    yield client
    client.close()


@pytest.fixture
def agent_client(staff_cluster: StaffCluster) -> Iterator[StaffClient]:
    client = staff_cluster.client()
    assert client.login(*AGENT).status_code == 303
    yield client
    client.close()

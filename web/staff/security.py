"""Sign-in state, roles, CSRF and security headers for the staff pages.

- :func:`staff_page` wraps an endpoint: it resolves the session cookie to a user (else a
  redirect to the login page, or 401 for non-page requests), enforces the role server-side
  (``admin`` pages answer 403 to agents) and, for every POST, checks the CSRF token (form
  field ``csrf_token`` or header ``X-CSRF-Token``) and the ``Origin`` header.
- :class:`SecurityHeaders` adds a strict Content-Security-Policy (no inline script, no
  third-party anything), ``nosniff``, ``frame-ancestors 'none'`` and no-store caching.
- :class:`LoginLimiter` counts failed sign-ins per address and per name in Redis, shared by
  every replica.
"""

from __future__ import annotations

import functools
import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.archive import accounts
from bot.archive.accounts import StaffSession

log = logging.getLogger(__name__)

SESSION_COOKIE = "kefu_staff"
LOGIN_CSRF_COOKIE = "kefu_login_csrf"
LANG_COOKIE = "kefu_staff_lang"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

Endpoint = Callable[[Request], Awaitable[Response]]


def archive_of(request: Request):  # type: ignore[no-untyped-def]
    """The :class:`bot.archive.service.ArchiveService` of this server."""
    return request.app.state.archive


def current_session(request: Request) -> StaffSession:
    """The signed-in session (only inside a :func:`staff_page` endpoint)."""
    return request.state.staff


def same_origin(request: Request) -> bool:
    """True when the request has no Origin header or it names this host (a browser sets it
    on cross-site POSTs; refusing those stops CSRF even if a token leaked).

    Behind a reverse proxy that rewrites ``Host``, the original host comes in
    ``X-Forwarded-Host`` (a header a cross-site page cannot set on a form post).
    """
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    hosts = {request.headers.get("host", "")}
    forwarded = request.headers.get("x-forwarded-host")
    if forwarded:
        hosts.add(forwarded.split(",")[0].strip())
    return urlsplit(origin).netloc in hosts


async def csrf_token_from(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


def safe_next(target: str | None) -> str:
    """A post-login redirect target inside /staff (never another site)."""
    if target and target.startswith("/staff") and not target.startswith("//") and "\\" not in target:
        return target
    return "/staff/"


def staff_page(role: str | None = None) -> Callable[[Endpoint], Endpoint]:
    """Require a signed-in user (and ``role`` when given; ``"admin"`` for admin pages)."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            database = archive_of(request).database
            if database is None:
                return PlainTextResponse("the transcript archive is unavailable; try again shortly", status_code=503)
            session = await run_in_threadpool(accounts.session_user, database, request.cookies.get(SESSION_COOKIE))
            if session is None:
                wants_page = request.method == "GET" and "text/html" in request.headers.get("accept", "")
                if wants_page:
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"/staff/login?next={quote(target)}", status_code=303)
                return PlainTextResponse("sign in first", status_code=401)
            request.state.staff = session
            if role == "admin" and not session.user.is_admin:
                from web.staff.templating import render_error

                return render_error(request, 403, "This page is for administrators.")
            if request.method not in ("GET", "HEAD"):
                token = await csrf_token_from(request)
                if not same_origin(request) or not token or not hmac.compare_digest(token, session.csrf_token):
                    return PlainTextResponse("missing or wrong CSRF token; reload the page and try again",
                                             status_code=403)
            return await endpoint(request)

        return wrapper

    return decorate


class LoginLimiter:
    """Fixed-window counters of failed sign-ins, per client address and per user name."""

    def __init__(self, client: aioredis.Redis, prefix: str, *, attempts: int, window_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.attempts = attempts
        self.window_s = window_s

    def _keys(self, address: str, name: str) -> list[str]:
        return [f"{self.prefix}staff:login:ip:{address}", f"{self.prefix}staff:login:name:{name.lower()[:64]}"]

    async def blocked_for(self, address: str, name: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        wait = 0
        for key in self._keys(address, name):
            count = await self.client.get(key)
            if count is not None and int(count) >= self.attempts:
                wait = max(wait, int(await self.client.ttl(key)), 1)
        return wait

    async def failed(self, address: str, name: str) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            for key in self._keys(address, name):
                # SET NX starts the window once; INCR keeps the TTL (works on Redis 6 too).
                pipe.set(key, 0, ex=self.window_s, nx=True)
                pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, address: str, name: str) -> None:
        # The address keeps its count (one success must not reset a spray across names).
        await self.client.delete(self._keys(address, name)[1])


class SecurityHeaders:
    """ASGI middleware: security headers on every staff response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in (
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ):
                    if name not in present:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""Signing in and out, and the UI language switch."""

from __future__ import annotations

import hmac
import secrets

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from bot.archive import accounts, audit
from web.staff.i18n import LANGUAGES
from web.staff.security import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginLimiter,
    archive_of,
    current_session,
    safe_next,
    same_origin,
    staff_page,
)
from web.staff.templating import render


def _limiter(request: Request) -> LoginLimiter:
    settings = archive_of(request).settings
    store = request.app.state.service.store
    return LoginLimiter(store.redis, store.prefix, attempts=settings.login_attempts, window_s=settings.login_window_s)


def _login_form(request: Request, *, error: str | None = None, status_code: int = 200, name: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_csrf": token, "error": error, "name": name,
                                              "next": safe_next(request.query_params.get("next"))},
                      status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/staff/login", httponly=True,
                        secure=archive_of(request).settings.cookie_secure, samesite="strict")
    return response


async def login_page(request: Request) -> Response:
    database = archive_of(request).database
    if database is None:
        return PlainTextResponse("the transcript archive is unavailable; try again shortly", status_code=503)
    if await run_in_threadpool(accounts.session_user, database, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(request)


async def login_submit(request: Request) -> Response:
    form = await request.form()
    token, expected = str(form.get("csrf_token") or ""), request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not same_origin(request) or not token or not hmac.compare_digest(token, expected):
        return PlainTextResponse("the sign-in form expired; reload the page and try again", status_code=403)
    name = str(form.get("name") or "").strip()[:64]
    password = str(form.get("password") or "")[:1024]
    address = request.client.host if request.client else "unknown"
    limiter = _limiter(request)
    archive = archive_of(request)
    if archive.database is None:
        return PlainTextResponse("the transcript archive is unavailable; try again shortly", status_code=503)
    try:
        wait = await limiter.blocked_for(address, name)
    except (RedisError, OSError):
        return _login_form(request, error="Sign-in is unavailable right now; try again shortly.", status_code=503)
    if wait:
        minutes = max(1, -(-wait // 60))
        return _login_form(request, error=f"Too many failed attempts. Try again in {minutes} min.",
                           status_code=429, name=name)
    user = await run_in_threadpool(accounts.authenticate, archive.database, name, password)
    if user is None:
        await limiter.failed(address, name)
        await run_in_threadpool(audit.record, archive.database, name or "?", "login_failed", None, {"address": address})
        return _login_form(request, error="Wrong name or password.", status_code=401, name=name)
    await limiter.succeeded(address, name)
    cookie, _ = await run_in_threadpool(accounts.create_session, archive.database, user,
                                        hours=archive.settings.session_hours)
    await run_in_threadpool(audit.record, archive.database, user.name, "login", None, {"address": address})
    response = RedirectResponse(safe_next(str(form.get("next") or "")), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=archive.settings.session_hours * 3600, path="/staff",
                        httponly=True, secure=archive.settings.cookie_secure, samesite="lax")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/staff/login")
    return response


@staff_page()
async def logout(request: Request) -> Response:
    archive = archive_of(request)
    await run_in_threadpool(accounts.end_session, archive.database, request.cookies.get(SESSION_COOKIE))
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "logout")
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/staff", secure=archive.settings.cookie_secure, httponly=True)
    return response


async def set_language(request: Request) -> Response:
    """``/staff/lang/{code}``: remember the UI language and go back."""
    code = request.path_params["code"]
    back = safe_next(request.query_params.get("next"))
    response = RedirectResponse(back, status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/staff", samesite="lax",
                            secure=archive_of(request).settings.cookie_secure)
    return response

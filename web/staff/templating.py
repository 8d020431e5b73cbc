"""Rendering the staff pages: one Jinja2 environment with autoescaping everywhere.

Everything a customer typed reaches a template as a plain string and is escaped by
Jinja; the ``masked`` filter escapes too, then shows redaction masks (``<EMAIL>``) as
badges. No template marks customer text ``|safe``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bot.archive.redaction import MASKS
from web.staff.i18n import pick_language, translator
from web.staff.security import LANG_COOKIE

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_MASK = re.compile("(" + "|".join(re.escape(m) for m in MASKS) + ")")

environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def masked(text: str | None) -> Markup:
    """Escaped text with redaction masks shown as badges."""
    if not text:
        return Markup("")
    parts = []
    for index, part in enumerate(_MASK.split(text)):
        if index % 2:
            label = part.strip("<>").lower()
            parts.append(Markup('<span class="mask" title="redacted">{}</span>').format(label))
        else:
            parts.append(escape(part))
    return Markup("").join(parts)


def percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def confidence_class(value: float | None) -> str:
    if value is None:
        return "conf-none"
    if value < 0.4:
        return "conf-low"
    if value < 0.7:
        return "conf-mid"
    return "conf-high"


environment.filters["masked"] = masked
environment.filters["percent"] = percent
environment.filters["confidence_class"] = confidence_class


def _zone(request: Request) -> str:
    archive = getattr(request.app.state, "archive", None)
    return archive.settings.timezone if archive is not None else "UTC"


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """Render ``template`` with the common context: user, CSRF token, ``_``, time formatting."""
    language = pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    session = getattr(request.state, "staff", None)
    zone = ZoneInfo(_zone(request))

    def when(timestamp: float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if not timestamp:
            return "–"
        return datetime.fromtimestamp(timestamp, zone).strftime(fmt)

    html = environment.get_template(template).render(
        request=request,
        user=session.user if session else None,
        csrf_token=session.csrf_token if session else "",
        _=translator(language),
        lang=language,
        when=when,
        zone_name=zone.key,
        path=request.url.path,
        **(context or {}),
    )
    return HTMLResponse(html, status_code=status_code)


def render_error(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {401: "Sign in", 403: "Forbidden", 404: "Not found"}
    return render(request, "error.html", {"title": titles.get(status_code, "Error"), "message": message,
                                          "status": status_code}, status_code=status_code)

"""The inbox (filters, search, paging), the conversation page, and the staff's edits to it:
tags, notes and intent/entity corrections. Transcript exports (admin) live here too."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from bot.archive import audit, curation, exports, inbox, training
from bot.archive.inbox import InboxFilters
from bot.archive.transcript import load_transcript
from bot.errors import KefuError
from web.staff.security import archive_of, current_session, staff_page
from web.staff.templating import render, render_error

PER_PAGE = 25


def _page_number(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), 100_000))
    except ValueError:
        return 1


def known_intents(request: Request, archived: list[str]) -> list[str]:
    """Intents a correction may choose: the domain's and any seen in the archive."""
    domain = request.app.state.service.engine.domain
    return sorted(set(domain.intents) | set(archived))


@staff_page()
async def inbox_page(request: Request) -> Response:
    archive = archive_of(request)
    filters = InboxFilters.from_params(request.query_params)
    page = _page_number(request)
    result = await run_in_threadpool(inbox.search_conversations, archive.database, filters, page=page,
                                     per_page=PER_PAGE, zone=archive.settings.timezone)
    facets = await run_in_threadpool(inbox.facet_values, archive.database)
    if filters.query:
        await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "search",
                                None, {"q": filters.query})
    params = filters.as_params()
    return render(request, "inbox.html", {
        "filters": filters, "result": result, "facets": facets, "statuses": inbox.STATUSES,
        "sentiments": inbox.SENTIMENTS, "query_string": urlencode(params),
        "page_link": lambda number: "?" + urlencode({**params, "page": number}),
    })


async def _conversation_or_404(request: Request, *, all_events: bool = False):  # type: ignore[no-untyped-def]
    archive = archive_of(request)
    return await run_in_threadpool(load_transcript, archive.database, request.path_params["conversation_id"],
                                   all_events=all_events)


# Success notices after a redirect are codes, so a crafted link cannot put words on the page.
SAVED_NOTICES = {"correction": "Correction saved to the training inbox.", "tag": "Tag added.", "note": "Note added."}


async def _render_conversation(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    archive = archive_of(request)
    all_events = request.query_params.get("events") == "all"
    transcript = await _conversation_or_404(request, all_events=all_events)
    if transcript is None:
        return render_error(request, 404, "This conversation is not in the archive (yet).")
    facets = await run_in_threadpool(inbox.facet_values, archive.database)
    markups = {m.event_id: training.annotate(m.text or "", m.entities) for m in transcript.messages if m.kind == "user"}
    for event_id, correction in transcript.corrections.items():
        markups[event_id] = training.annotate(correction["text"], correction["entities"])
    return render(request, "conversation.html", {
        "t": transcript, "c": transcript.summary, "intents": known_intents(request, facets["intents"]),
        "markups": markups, "all_events": all_events,
        "notice": SAVED_NOTICES.get(request.query_params.get("saved", "")), "error": error,
    }, status_code=status_code)


@staff_page()
async def conversation_page(request: Request) -> Response:
    response = await _render_conversation(request)
    if response.status_code == 200:
        archive = archive_of(request)
        await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "view",
                                request.path_params["conversation_id"])
    return response


def _back(conversation_id: str, *, saved: str | None = None, anchor: str = "") -> Response:
    query = f"?saved={saved}" if saved else ""
    return RedirectResponse(f"/staff/conversations/{conversation_id}{query}{anchor}", status_code=303)


@staff_page()
async def add_tag(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    form = await request.form()
    archive = archive_of(request)
    user = current_session(request).user.name
    try:
        tag = await run_in_threadpool(curation.add_tag, archive.database, conversation_id, str(form.get("tag") or ""),
                                      author=user)
    except KefuError as exc:
        return await _render_conversation(request, error=str(exc), status_code=400)
    await run_in_threadpool(audit.record, archive.database, user, "tag", conversation_id, {"tag": tag})
    return _back(conversation_id, saved="tag", anchor="#tags")


@staff_page()
async def remove_tag(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    form = await request.form()
    archive = archive_of(request)
    tag = str(form.get("tag") or "")
    await run_in_threadpool(curation.remove_tag, archive.database, conversation_id, tag)
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "untag",
                            conversation_id, {"tag": tag})
    return _back(conversation_id, anchor="#tags")


@staff_page()
async def add_note(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    form = await request.form()
    archive = archive_of(request)
    user = current_session(request).user.name
    try:
        await run_in_threadpool(curation.add_note, archive.database, conversation_id, str(form.get("text") or ""),
                                author=user)
    except KefuError as exc:
        return await _render_conversation(request, error=str(exc), status_code=400)
    await run_in_threadpool(audit.record, archive.database, user, "note", conversation_id)
    return _back(conversation_id, saved="note", anchor="#notes")


@staff_page()
async def correct_message(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    event_id = request.path_params["event_id"]
    form = await request.form()
    archive = archive_of(request)
    user = current_session(request).user.name
    try:
        correction = await run_in_threadpool(
            training.correct_message, archive.database, conversation_id, event_id,
            intent=str(form.get("intent") or ""), markup=str(form.get("markup") or ""), author=user)
    except KefuError as exc:
        return await _render_conversation(request, error=str(exc), status_code=400)
    await run_in_threadpool(audit.record, archive.database, user, "correct", f"{conversation_id}/{event_id}",
                            {"from": correction["original_intent"], "to": correction["intent"],
                             "entities": len(correction["entities"])})
    return _back(conversation_id, saved="correction", anchor=f"#m-{event_id}")


def _export_name(extension: str) -> str:
    return f"kefu-transcripts-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.{extension}"


@staff_page(role="admin")
async def export_transcripts(request: Request) -> Response:
    """``/staff/export/transcripts.csv`` or ``.jsonl`` with the inbox's filters."""
    archive = archive_of(request)
    extension = request.path_params["format"]
    filters = InboxFilters.from_params(request.query_params)
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "export",
                            f"transcripts.{extension}", filters.as_params() or None)
    if extension == "csv":
        body = exports.transcripts_csv(archive.database, filters, zone=archive.settings.timezone)
        media_type = "text/csv; charset=utf-8"
    else:
        body = exports.transcripts_jsonl(archive.database, filters, zone=archive.settings.timezone)
        media_type = "application/x-ndjson; charset=utf-8"
    return StreamingResponse(body, media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{_export_name(extension)}"'})

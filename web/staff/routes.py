"""The ``/staff`` routes, mounted by :func:`bot.server.create_app` through :func:`staff_mount`.

GET pages need a signed-in user; POSTs also need the session's CSRF token. Admin-only:
reports, transcript and training exports, the training inbox, model reload, users, audit.
"""

from __future__ import annotations

from pathlib import Path

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from web.staff import views_admin, views_auth, views_inbox, views_live
from web.staff.security import SecurityHeaders

STATIC_DIR = Path(__file__).resolve().parent / "static"


class ConversationIdConvertor(Convertor[str]):
    """Conversation ids: the widget's 32-character ids and any other channel's short ids."""

    regex = r"[A-Za-z0-9_.:-]{1,64}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class EventIdConvertor(ConversationIdConvertor):
    regex = r"\d{1,20}-\d{1,20}"


register_url_convertor("conversation", ConversationIdConvertor())
register_url_convertor("event", EventIdConvertor())


async def _root(request: Request) -> RedirectResponse:
    return RedirectResponse("/staff/", status_code=307)


def staff_routes() -> list[Route | Mount]:
    conv = "/conversations/{conversation_id:conversation}"
    live = "/live/{conversation_id:conversation}"
    return [
        Route("/", views_inbox.inbox_page),
        Route("/login", views_auth.login_page, methods=["GET"]),
        Route("/login", views_auth.login_submit, methods=["POST"]),
        Route("/logout", views_auth.logout, methods=["POST"]),
        Route("/lang/{code}", views_auth.set_language),
        Route(conv, views_inbox.conversation_page),
        Route(conv + "/tags", views_inbox.add_tag, methods=["POST"]),
        Route(conv + "/tags/remove", views_inbox.remove_tag, methods=["POST"]),
        Route(conv + "/notes", views_inbox.add_note, methods=["POST"]),
        Route(conv + "/messages/{event_id:event}/correct", views_inbox.correct_message, methods=["POST"]),
        Route("/export/transcripts.{format:str}", views_inbox.export_transcripts),
        Route("/live", views_live.queue_page),
        Route("/live/queue/events", views_live.queue_events),
        Route(live, views_live.live_conversation_page),
        Route(live + "/events", views_live.live_conversation_events),
        Route(live + "/take-over", views_live.take_over, methods=["POST"]),
        Route(live + "/reply", views_live.reply, methods=["POST"]),
        Route(live + "/hand-back", views_live.hand_back, methods=["POST"]),
        Route("/reports", views_admin.reports_page),
        Route("/reports/{table:str}.csv", views_admin.report_csv),
        Route("/training", views_admin.training_page),
        Route("/training/kefu_corrections.yml", views_admin.training_download),
        Route("/training/write", views_admin.training_write, methods=["POST"]),
        Route("/training/{correction_id:int}/delete", views_admin.training_delete, methods=["POST"]),
        Route("/admin/model", views_admin.model_page),
        Route("/admin/model/reload", views_admin.model_reload, methods=["POST"]),
        Route("/admin/users", views_admin.users_page),
        Route("/admin/users/add", views_admin.users_add, methods=["POST"]),
        Route("/admin/users/{name:str}/{verb:str}", views_admin.users_toggle, methods=["POST"]),
        Route("/admin/audit", views_admin.audit_page),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="staff-static"),
    ]


def staff_mount() -> list[Route | Mount]:
    """The routes to add to the app: ``/staff`` (redirect) and everything under ``/staff/``."""
    return [Route("/staff", _root), Mount("/staff", app=SecurityHeaders(Router(staff_routes())))]

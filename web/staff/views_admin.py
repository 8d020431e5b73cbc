"""Admin pages: reports and their CSV, the training inbox and its export, model reload,
users and the audit log. Every endpoint here requires the ``admin`` role."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from bot.archive import accounts, audit, reports, training
from bot.errors import KefuError
from bot.reload import request_reload, server_models
from web.staff.security import archive_of, current_session, staff_page
from web.staff.templating import render, render_error


def _report_range(request: Request) -> tuple[date, date, str | None]:
    zone = archive_of(request).settings.timezone
    default_from, default_to = reports.default_range(zone)
    try:
        date_from = date.fromisoformat(request.query_params.get("date_from") or default_from.isoformat())
        date_to = date.fromisoformat(request.query_params.get("date_to") or default_to.isoformat())
    except ValueError:
        return default_from, default_to, "Dates must look like 2025-01-31; showing the last 30 days."
    if date_to < date_from or (date_to - date_from).days > 366:
        return default_from, default_to, "The range must be 1 to 366 days; showing the last 30 days."
    return date_from, date_to, None


@staff_page(role="admin")
async def reports_page(request: Request) -> Response:
    archive = archive_of(request)
    date_from, date_to, error = _report_range(request)
    report = await run_in_threadpool(reports.build_report, archive.database, date_from, date_to,
                                     zone=archive.settings.timezone)
    return render(request, "reports.html", {"report": report, "chart_data": report.chart_data(), "error": error,
                                            "tables": reports.REPORT_TABLES})


@staff_page(role="admin")
async def report_csv(request: Request) -> Response:
    archive = archive_of(request)
    table = request.path_params["table"]
    if table not in reports.REPORT_TABLES:
        return render_error(request, 404, "No such report table.")
    date_from, date_to, _ = _report_range(request)
    report = await run_in_threadpool(reports.build_report, archive.database, date_from, date_to,
                                     zone=archive.settings.timezone)
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "export",
                            f"report/{table}.csv", {"from": date_from.isoformat(), "to": date_to.isoformat()})
    name = f"kefu-{table}-{date_from.isoformat()}-{date_to.isoformat()}.csv"
    return PlainTextResponse(reports.report_csv(report, table), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _project_dir(request: Request) -> Path:
    return Path(request.app.state.settings.project_dir)


@staff_page(role="admin")
async def training_page(request: Request) -> Response:
    archive = archive_of(request)
    corrections = await run_in_threadpool(training.list_corrections, archive.database)
    return render(request, "training.html", {
        "corrections": corrections, "target": training.default_training_path(_project_dir(request)),
        "notice": {"written": "Training file written.", "deleted": "Correction removed."}.get(
            request.query_params.get("saved", "")),
    })


@staff_page(role="admin")
async def training_download(request: Request) -> Response:
    archive = archive_of(request)
    corrections = await run_in_threadpool(training.list_corrections, archive.database)
    await run_in_threadpool(training.mark_exported, archive.database, [c["id"] for c in corrections])
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "export_training",
                            "download", {"corrections": len(corrections)})
    return PlainTextResponse(training.training_yaml(corrections), media_type="application/yaml; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{training.TRAINING_FILE_NAME}"'})


@staff_page(role="admin")
async def training_write(request: Request) -> Response:
    archive = archive_of(request)
    target = training.default_training_path(_project_dir(request))
    try:
        count = await run_in_threadpool(training.export_training, archive.database, target)
    except OSError as exc:
        return render_error(request, 500, f"Could not write {target}: {exc.strerror}")
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "export_training",
                            str(target), {"corrections": count})
    return RedirectResponse("/staff/training?saved=written", status_code=303)


@staff_page(role="admin")
async def training_delete(request: Request) -> Response:
    archive = archive_of(request)
    correction_id = request.path_params["correction_id"]
    await run_in_threadpool(training.delete_correction, archive.database, correction_id)
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "uncorrect",
                            str(correction_id))
    return RedirectResponse("/staff/training?saved=deleted", status_code=303)


def _model_choices(request: Request) -> list[Path]:
    """Model folders beside the current one, newest first."""
    nlu = request.app.state.service.nlu
    current = nlu.model_dir if nlu is not None else None
    roots = {p for p in (current.parent if current else None, request.app.state.settings.var_dir.parent / "models") if p}
    found = {p.resolve() for root in roots if root.is_dir() for p in root.iterdir() if (p / "config.json").is_file()}
    return sorted(found, key=lambda p: (p / "config.json").stat().st_mtime, reverse=True)


@staff_page(role="admin")
async def model_page(request: Request) -> Response:
    store = request.app.state.service.store
    servers = await server_models(store.redis, store.prefix)
    nlu = request.app.state.service.nlu
    archiver = archive_of(request).archiver
    return render(request, "model.html", {
        "servers": servers, "current": nlu.model_dir if nlu else None, "choices": _model_choices(request),
        "sent": request.query_params.get("sent"), "archiver": archiver,
        "lag": await archiver.lag() if archiver else None,
    })


@staff_page(role="admin")
async def model_reload(request: Request) -> Response:
    form = await request.form()
    choice = Path(str(form.get("model") or ""))
    if choice.resolve() not in _model_choices(request):
        return render_error(request, 400, "Pick one of the listed model folders.")
    store = request.app.state.service.store
    listeners = await request_reload(store.redis, store.prefix, choice, requested_by=current_session(request).user.name)
    archive = archive_of(request)
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "reload_model",
                            str(choice), {"servers": listeners})
    return RedirectResponse(f"/staff/admin/model?sent={listeners}", status_code=303)


@staff_page(role="admin")
async def users_page(request: Request) -> Response:
    archive = archive_of(request)
    rows = await run_in_threadpool(accounts.list_users, archive.database)
    return render(request, "users.html", {"users": rows, "roles": accounts.ROLES, "error": None,
                                          "min_password": accounts.MIN_PASSWORD_CHARS})


@staff_page(role="admin")
async def users_add(request: Request) -> Response:
    archive = archive_of(request)
    form = await request.form()
    name = str(form.get("name") or "").strip()
    try:
        await run_in_threadpool(accounts.add_user, archive.database, name, str(form.get("role") or ""),
                                str(form.get("password") or ""))
    except KefuError as exc:
        rows = await run_in_threadpool(accounts.list_users, archive.database)
        return render(request, "users.html", {"users": rows, "roles": accounts.ROLES, "error": str(exc),
                                              "min_password": accounts.MIN_PASSWORD_CHARS}, status_code=400)
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name, "add_user", name,
                            {"role": form.get("role")})
    return RedirectResponse("/staff/admin/users", status_code=303)


@staff_page(role="admin")
async def users_toggle(request: Request) -> Response:
    archive = archive_of(request)
    name = request.path_params["name"]
    if request.path_params["verb"] not in ("disable", "enable"):
        return render_error(request, 404, "Unknown action.")
    disable = request.path_params["verb"] == "disable"
    if disable and name == current_session(request).user.name:
        return render_error(request, 400, "You cannot disable your own account.")
    try:
        await run_in_threadpool(accounts.set_disabled, archive.database, name, disable)
    except KefuError as exc:
        return render_error(request, 404, str(exc))
    await run_in_threadpool(audit.record, archive.database, current_session(request).user.name,
                            "disable_user" if disable else "enable_user", name)
    return RedirectResponse("/staff/admin/users", status_code=303)


@staff_page(role="admin")
async def audit_page(request: Request) -> Response:
    archive = archive_of(request)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    user = (request.query_params.get("user") or "").strip()[:64] or None
    action = request.query_params.get("action") or None
    if action not in audit.ACTIONS:
        action = None
    per_page = 50
    rows, total = await run_in_threadpool(audit.entries, archive.database, user=user, action=action,
                                          limit=per_page, offset=(page - 1) * per_page)
    return render(request, "audit.html", {"rows": rows, "total": total, "page": page,
                                          "pages": max(1, -(-total // per_page)), "user_filter": user or "",
                                          "action_filter": action or "", "actions": audit.ACTIONS})

"""The web server: the demo shop page, the widget script, the chat websocket, health, and
the staff review pages (``/staff``, from :mod:`web.staff`).

``create_app(settings)`` builds the Starlette app; its lifespan connects Redis, loads the
dialogue project and the NLU model, and closes them again on shutdown.
"""

from __future__ import annotations

import asyncio

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from bot.archive.config import load_archive_settings
from bot.archive.service import ArchiveService
from bot.config import Settings
from bot.dialogue.engine import EngineConfig
from bot.errors import KefuError, ServiceUnavailable
from bot.generation import GenerationService
from bot.live import LiveHub
from bot.metrics import Metrics
from bot.nlu import NluService
from bot.project import load_project
from bot.ratelimit import ConnectionCounter
from bot.reload import ModelReloader
from bot.store import ConversationStore
from bot.turns import ConversationService
from bot.ws_channel import websocket_endpoint
from web.staff.routes import staff_mount

log = logging.getLogger(__name__)

WIDGET_DIR = Path(__file__).resolve().parent.parent / "web" / "widget"


def _static(name: str, media_type: str | None = None):
    async def endpoint(request: Request) -> Response:
        path = WIDGET_DIR / name
        if not path.is_file():
            return JSONResponse({"error": f"{name} is missing from this installation"}, status_code=404)
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})

    return endpoint


async def healthz(request: Request) -> Response:
    state = request.app.state
    try:
        redis_ok = await state.service.store.ping()
    except ServiceUnavailable:
        redis_ok = False
    body = {
        "status": "ok" if redis_ok else "degraded",
        "redis": redis_ok,
        "model": str(state.service.nlu.model_dir.name) if state.service.nlu.model_dir else None,
    }
    return JSONResponse(body, status_code=200 if redis_ok else 503)


_GC_THRESHOLDS = (20_000, 50, 1000)
FULL_GC_INTERVAL_S = 300


async def _collect_garbage_now_and_then() -> None:
    while True:
        await asyncio.sleep(FULL_GC_INTERVAL_S)
        gc.collect()


def create_app(settings: Settings, *, nlu: NluService | None = None, actions: object | None = None,
               generation: object | None = None) -> Starlette:
    """Build the app. ``nlu`` and ``actions`` may be passed in (tests, the shell); by
    default they are made from ``settings.model_dir`` and ``settings.action_endpoint``."""
    if settings.redis_url is None:
        raise KefuError("no Redis URL: pass --redis-url, set REDIS_URL, or use `kefu run`")

    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        project = load_project(settings.project_dir)
        engine = project.engine(EngineConfig(fallback_threshold=settings.fallback_threshold))
        session_ttl = engine.session_ttl_s or settings.session_ttl_s
        store = ConversationStore.from_url(
            settings.redis_url,  # type: ignore[arg-type]
            prefix=settings.redis_prefix,
            session_ttl_s=session_ttl,
            transcript_ttl_s=settings.transcript_ttl_s,
        )
        service_nlu = nlu
        if service_nlu is None:
            if settings.model_dir is None:
                raise KefuError("no model: train one with `kefu train` or pass --model DIR")
            service_nlu = NluService.from_model_dir(settings.model_dir)
        if service_nlu.on_parse is None:
            service_nlu.on_parse = metrics.nlu_seconds.observe
        if getattr(service_nlu.parser, "on_batch", "absent") is None:
            service_nlu.parser.on_batch = metrics.nlu_batch_size.observe
        action_client = actions
        if action_client is None and settings.action_endpoint:
            from bot.actions_client import ActionClient

            action_client = ActionClient(settings.action_endpoint)
        live = LiveHub(store.redis, prefix=settings.redis_prefix)
        live.start()
        app.state.live = live
        app.state.settings = settings
        app.state.metrics = metrics
        app.state.connections = ConnectionCounter(settings.limits.connections_per_ip)
        answer_mode = engine.domain.answer_mode

        def load_generation(model_nlu: NluService) -> GenerationService | None:
            return GenerationService.for_nlu(model_nlu, settings.project_dir, answer_mode=answer_mode)

        service_generation = generation if generation is not None else await asyncio.to_thread(load_generation, service_nlu)
        app.state.service = ConversationService(
            store,
            engine,
            service_nlu,
            actions=action_client,
            generation=service_generation,
            lock_wait_s=settings.limits.lock_wait_s,
            lock_ttl_ms=settings.limits.lock_ttl_ms,
        )
        # The transcript archiver (this process's share of the feed) and the staff pages' data.
        app.state.archive = await ArchiveService.launch(
            load_archive_settings(settings.var_dir), store.redis, prefix=settings.redis_prefix)
        # `kefu reload` / the admin button swap app.state.service.nlu without a restart.
        app.state.reloader = ModelReloader(app.state.service, store.redis, prefix=settings.redis_prefix,
                                           generation_loader=load_generation)
        app.state.reloader.start()
        # Everything loaded so far (torch, the models, the domain) lives as long as the
        # process: freezing it keeps the garbage collector's full passes from walking millions
        # of long-lived objects, which showed up as 100+ ms pauses in turn latency under load.
        gc.collect()
        gc.freeze()
        # Collect the young generation every 50,000 new objects instead of 700: a turn
        # allocates thousands, and with the default thresholds the collector ran 40 times a
        # second and reached a full collection every 3 s (measured at 235 turns/s: 6 s of
        # pauses a minute, full ones of ~120 ms each).
        gc.set_threshold(*_GC_THRESHOLDS)
        # With these thresholds a full collection practically never starts by itself; one
        # every few minutes frees what cycles reached the old generation.
        full_collections = asyncio.create_task(_collect_garbage_now_and_then(), name="kefu-full-gc")
        stop_watching_gc = metrics.watch_garbage_collector()
        log.info("kefu ready: project %s, model %s, answer_mode %s%s", settings.project_dir, service_nlu.model_dir,
                 answer_mode, "" if service_generation is not None or answer_mode == "template" else " (no decoder: templates)")
        try:
            yield
        finally:
            stop_watching_gc()
            full_collections.cancel()
            if action_client is not None and actions is None:
                await action_client.aclose()
            await app.state.reloader.close()
            await app.state.archive.close()
            # The model in use now (a reload closes the models it replaced itself).
            if app.state.service.nlu is not nlu:
                app.state.service.nlu.close()
            await live.close()
            await store.close()

    routes = [
        Route("/", _static("index.html", "text/html")),
        Route("/zh", _static("zh.html", "text/html")),
        Route("/zh.html", _static("zh.html", "text/html")),
        Route("/index.html", _static("index.html", "text/html")),
        Route("/widget.js", _static("widget.js", "text/javascript")),
        Route("/healthz", healthz),
        Route("/metrics", metrics.endpoint),
        Route("/favicon.ico", _static("favicon.svg", "image/svg+xml")),
        WebSocketRoute("/ws", websocket_endpoint),
        *staff_mount(),
    ]
    return Starlette(routes=routes, lifespan=lifespan)

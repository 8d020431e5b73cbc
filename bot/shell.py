"""``kefu shell``: chat in the terminal through the same dialogue manager as the widget."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from pathlib import Path

from rich.console import Console

from bot.config import Settings
from bot.dialogue.engine import EngineConfig
from bot.embedded_redis import EmbeddedRedis
from bot.errors import KefuError
from bot.nlu import NluService
from bot.project import load_project
from bot.store import ConversationStore
from bot.tokens import new_conversation_id
from bot.turns import ConversationService

console = Console()


async def _chat(settings: Settings) -> None:
    assert settings.redis_url and settings.model_dir
    project = load_project(settings.project_dir)
    engine = project.engine(EngineConfig(fallback_threshold=settings.fallback_threshold, output_channel="shell"))
    store = ConversationStore.from_url(settings.redis_url, prefix=settings.redis_prefix)
    nlu = NluService.from_model_dir(settings.model_dir)
    actions = None
    if settings.action_endpoint:
        from bot.actions_client import ActionClient

        actions = ActionClient(settings.action_endpoint)
    service = ConversationService(store, engine, nlu, actions=actions)
    conversation_id = new_conversation_id()
    console.print("[bold]Kefu shell[/] — type a message, a number to press a button, /quit to leave.")
    buttons: list[dict[str, str]] = []
    try:
        while True:
            try:
                text = (await asyncio.to_thread(console.input, "[bold cyan]you>[/] ")).strip()
            except (EOFError, KeyboardInterrupt):
                break
            if not text:
                continue
            if text in ("/quit", "/exit"):
                break
            if text.isdigit() and 1 <= int(text) <= len(buttons):
                text = buttons[int(text) - 1]["payload"]
            result = await service.handle_user_message(conversation_id, uuid.uuid4().hex, text, input_channel="shell")
            buttons = []
            for stored in result.bot_messages:
                console.print(f"[bold green]bot>[/] {stored.event.get('text') or ''}", highlight=False)
                for button in (stored.event.get("data") or {}).get("buttons") or []:
                    buttons.append(button)
                    console.print(f"      [{len(buttons)}] {button['title']}", highlight=False)
    finally:
        if actions is not None:
            await actions.aclose()
        nlu.close()
        await store.delete_conversation(conversation_id)
        await store.close()


def run_shell(settings: Settings) -> int:
    """Chat until /quit. Without ``--redis-url`` / ``--action-endpoint`` a temporary Redis
    and the project's own action server (``actions/``) are started, as ``kefu run`` does."""
    from bot.embedded_redis import free_port
    from bot.launcher import action_server

    with contextlib.ExitStack() as stack:
        if not settings.redis_url:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kefu-shell-")))
            settings = settings.with_overrides(redis_url=stack.enter_context(EmbeddedRedis(data_dir)).url)
        if not settings.action_endpoint:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
            endpoint = stack.enter_context(action_server(free_port(), var_dir=settings.var_dir))
            settings = settings.with_overrides(action_endpoint=endpoint)
        try:
            asyncio.run(_chat(settings))
        except KefuError as exc:
            console.print(f"[red]kefu shell: {exc}[/]")
            return 1
    return 0

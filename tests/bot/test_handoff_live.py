"""Human handoff across processes: the customer on the server process, staff in this one."""

from __future__ import annotations

from pathlib import Path

from bot.dialogue.engine import EngineConfig
from bot.project import load_project
from bot.store import ConversationStore
from bot.turns import ConversationService
from tests.bot.conftest import KefuServer
from tests.chat_client import ChatClient


async def test_staff_takes_over_replies_and_hands_back(server: KefuServer, tiny_project: Path,
                                                       redis_url: str, redis_prefix: str) -> None:
    store = ConversationStore.from_url(redis_url, prefix=redis_prefix)
    staff = ConversationService(store, load_project(tiny_project).engine(EngineConfig()), None)
    try:
        async with ChatClient(server.ws_url) as chat:
            await chat.hello()
            await chat.say("hello")
            conversation = chat.conversation_id
            assert conversation is not None

            await staff.take_over(conversation, agent="alice")
            assert (await chat.recv()) == {"type": "handoff", "event_id": (await store.read_events(conversation))[-2].event_id,
                                           "state": "human"}
            # While a person has the chat, the bot does not answer.
            _, replies = await chat.say("is anyone there?")
            assert replies == []
            await staff.staff_reply(conversation, "Hi, I'm Alice. How can I help?", agent="alice")
            frame = await chat.recv()
            assert frame["type"] == "bot" and frame["source"] == "human"
            assert frame["text"] == "Hi, I'm Alice. How can I help?"

            await staff.hand_back(conversation, agent="alice")
            assert (await chat.recv())["state"] == "bot"
            _, replies = await chat.say("hello")
            assert replies and replies[0]["source"] == "template"
        # A reload replays the human message and the handoff states in order.
        async with ChatClient(server.ws_url) as again:
            _, history = await again.hello(conversation, chat.token)
            kinds = [(f["type"], f.get("state") or f.get("source")) for f in history if f["type"] != "user"]
            assert ("handoff", "human") in kinds and ("bot", "human") in kinds and kinds[-2] == ("handoff", "bot")
    finally:
        await store.close()

"""The rasa-sdk action server dies: the order forms end in custom actions, so the bot says
it cannot reach the order system and offers a person; the conversation goes on."""

from __future__ import annotations

from pathlib import Path

from bot.embedded_redis import free_port
from tests.chat_client import ChatClient
from tests.processes import ManagedProcess, python_module
from tests.reliability.conftest import ServerFactory

ORDER = '/inform{"order_id": "ORD-10003"}'


async def test_action_server_down_bot_apologises_and_offers_a_person(
        servers: ServerFactory, redis_url: str, redis_prefix: str, tmp_path: Path) -> None:
    port = free_port()
    actions = ManagedProcess(
        python_module("rasa_sdk", "--actions", "actions", "--port", str(port)),
        health_url=f"http://127.0.0.1:{port}/health",
        env={"KEFU_ORDERS_DB": str(tmp_path / "orders.sqlite3")},
        log_path=tmp_path / "actions.log",
    ).start()
    try:
        server = servers.start(redis_url=redis_url, prefix=redis_prefix,
                               action_endpoint=f"http://127.0.0.1:{port}/webhook")
        async with ChatClient(server.ws_url) as chat:
            await chat.hello()
            await chat.say("/track_order")
            _, status = await chat.say(ORDER)
            assert status[-1]["source"] == "action" and "ORD-10003" in status[-1]["text"]

            actions.kill()  # SIGKILL, as a crash or the OOM killer would

            _, replies = await chat.say("/track_order")
            apology = replies[-1]
            assert apology["text"].startswith("Sorry, I can't reach our order system")
            assert {"title": "Talk to a person", "payload": "/contact_human_agent"} in apology["buttons"]
            # The offered button works: the conversation is handed to the staff queue.
            await chat.send({"type": "user", "id": "human-please", "text": "/contact_human_agent"})
            frames = await chat.until(lambda f: f["type"] == "typing" and f["on"] is False)
            assert not [f for f in frames if f["type"] == "error"], frames
            assert {"type": "handoff", "state": "waiting"} in [
                {"type": f["type"], "state": f.get("state")} for f in frames if f["type"] == "handoff"]
        assert server.process is not None and server.process.poll() is None
    finally:
        actions.stop()

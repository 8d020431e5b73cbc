"""`kefu run`'s first start: templates answer while the decoder trains in the background;
when training succeeds the server loads the model again and generated answers switch on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bot.config import load_settings
from bot.launcher import reload_when_trained
from nlu_model.generation.artefacts import DECODER_FILES
from tests.bot.conftest import KefuServer
from tests.chat_client import ChatClient
from tests.tiny_bot import make_tiny_project


async def test_generated_answers_switch_on_when_the_background_training_ends(
        tiny_model: Path, tiny_generating_model: Path, redis_url: str, redis_prefix: str, action_server: str,
        tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)  # the NLU model only, as `kefu run` trains it first
    project = make_tiny_project(tmp_path / "project", answer_mode="generate")
    server = KefuServer(model=model, project=project, redis_url=redis_url, prefix=redis_prefix,
                        action_endpoint=action_server, var_dir=tmp_path).start()
    try:
        async with ChatClient(server.ws_url) as chat:
            await chat.hello()
            _, replies = await chat.say("how long does delivery take?")
            assert "stream_id" not in replies[0]  # no decoder yet: the template
            # The background training writes the decoder files, then exits 0.
            for name in DECODER_FILES:
                if (tiny_generating_model / name).exists():
                    shutil.copy(tiny_generating_model / name, model / name)
            trainer = subprocess.Popen([sys.executable, "-c", "pass"])
            settings = load_settings().with_overrides(redis_url=redis_url, redis_prefix=redis_prefix, var_dir=tmp_path)
            await reload_when_trained(trainer, model, settings)
            for _ in range(100):
                _, replies = await chat.say("how long does delivery take?")
                if "stream_id" in replies[0]:
                    break
            assert "stream_id" in replies[0], "the reloaded server does not generate"
    finally:
        server.stop()

"""What the tiny test bot is trained on and answers with: texts for the browser tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.bot.test_server_ws import response_texts, zh_example
from tests.tiny_bot import nlu_examples

__all__ = ["en_example", "greeting_buttons", "response_texts", "zh_example"]


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def en_example(project: Path, intent: str) -> str:
    """The first English training example of ``intent``: a text the tiny model knows."""
    return next(t for t in nlu_examples(project, intent) if not _has_cjk(t))


def greeting_buttons(project: Path, language: str) -> list[dict[str, str]]:
    """The quick replies of the domain's greeting in ``language`` ("en" or "zh")."""
    domain = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    for variation in domain["responses"]["utter_greet"]:
        is_zh = any(c.get("name") == "language" and c.get("value") == "zh" for c in variation.get("condition") or [])
        if is_zh == (language == "zh"):
            return variation["buttons"]
    raise AssertionError(f"utter_greet has no {language} variation")

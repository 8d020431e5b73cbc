"""GenerationService on a real (tiny) decoder: when it answers, and how it sheds load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.dialogue.tracker import DialogueTracker
from bot.generation import GenerationService
from bot.project import load_project
from tests.tiny_bot import make_tiny_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_project(tmp_path_factory.mktemp("gen-project"), per_intent=1, answer_mode="hybrid")


def _tracker(project: Path, text: str, intent: str) -> DialogueTracker:
    domain = load_project(project).domain
    user = {"event": "user", "timestamp": 1.0, "text": text, "message_id": "m1",
            "parse_data": {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}}
    return DialogueTracker.from_events("c" * 32, domain, [user])


def _template(name: str, text: str) -> dict:
    return {"event": "bot", "timestamp": 2.0, "text": text, "data": {}, "metadata": {"source": "template", "utter_action": name}}


def test_hybrid_generates_for_knowledge_intents_and_opt_ins_only(tiny_generating_model: Path, project: Path) -> None:
    service = GenerationService.load(tiny_generating_model, project, answer_mode="hybrid")
    assert service is not None
    responses = load_project(project).domain.responses
    wants = lambda name, intent: service.wants_generation(name, responses.get(name, []), "some question", intent)  # noqa: E731
    assert wants("utter_delivery_period", "delivery_period")  # the knowledge base covers it
    assert wants("utter_recover_password", "recover_password")  # `generate: true` on the response
    assert not wants("utter_greet", "greet")
    assert not wants("utter_ask_order_id", "track_order")  # form questions never
    assert GenerationService.load(tiny_generating_model, project, answer_mode="template") is None


async def test_a_second_answer_while_one_is_written_gets_the_template_and_is_marked_busy(
        tiny_generating_model: Path, project: Path) -> None:
    service = GenerationService.load(tiny_generating_model, project, answer_mode="generate")
    responses = load_project(project).domain.responses
    tracker = _tracker(project, "how long does delivery take?", "delivery_period")
    template = _template("utter_delivery_period", "Delivery takes 3-5 working days.")
    first, second = await asyncio.gather(service.apply(template, tracker, responses),
                                         service.apply(template, tracker, responses))
    assert first["metadata"]["generation"]["decision"] in ("generated", "fallback_to_template", "handoff")
    assert second["metadata"]["generation"] == {"decision": "busy"} and second["text"] == template["text"]
    # A server running many turns at once keeps its CPU for the dialogue.
    crowded = await service.apply(template, tracker, responses, turns_in_flight=service.max_turns_in_flight + 1)
    assert crowded["metadata"]["generation"] == {"decision": "busy"}
    # A generator that has used its share of the CPU lately also steps aside.
    service.max_busy_share = 1e-9
    third = await service.apply(template, tracker, responses)
    assert third["metadata"]["generation"] == {"decision": "busy"}

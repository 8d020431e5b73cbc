"""Generated answers in a turn: when to generate, the guarded answer as a `bot` event, streaming.

The dialogue engine renders a response template as a `bot` event; `GenerationService.apply`
then decides whether that event is answered by the generator instead and returns the event to
store. The decision follows the domain's `answer_mode`:

- `template`: never generate;
- `generate`: every response that answers the customer's message is generated (form questions
  `utter_ask_*`, `utter_default` and the fallback/handoff texts always stay templates);
- `hybrid` (the default bot): generate when the response opts in (a variation with
  `generate: true`) or when the knowledge base has a passage written for the customer's
  intent (an FAQ the knowledge covers: shipping times, returns, payment, opening hours).
  Everything else stays the curated template. A variation with `generate: false` opts out.

Generation is CPU-bound and runs one answer at a time in a worker thread. The template
answers at once, with the decision `busy` recorded, when another answer is being written
(beyond `max_waiting` queued ones), when generation took more than `max_busy_share` of a
core over the last `BUSY_WINDOW_S` seconds, or when more than `max_turns_in_flight`
customer turns are running in this process: under load the bot degrades to templates, never
to delays, and the dialogue keeps the CPU it needs.

A generated answer is shown only when the guard passes (confidence, intent consistency,
grounding); otherwise the template event is kept, marked `generation.decision =
"fallback_to_template"`. Either way the scores are in the event's `metadata.generation`,
for staff review. Tokens stream through `on_token(stream_id, text)` while the answer is
written; the final event carries the same `stream_id` in its metadata.

```python
service = GenerationService.load(model_dir, project_dir, answer_mode=domain.answer_mode, predictor=predictor)
event = await service.apply(template_event, tracker, domain_responses, on_token=send_token)
```
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from nlu_model.generation.decoding import AnswerGenerator, AnswerRequest, GeneratedAnswer

log = logging.getLogger(__name__)

TokenCallback = Callable[[str, str], Awaitable[None]]  # (stream_id, text)
ANSWER_MODES = ("template", "generate", "hybrid")
# Responses that ask, apologise or hand over: the generator never replaces them.
_HANDOFF_OFFER = {"en": "I'm not sure I can answer that well. Would you like to talk to a person?",
                  "zh": "这个问题我可能回答得不够准确。需要为您转接人工客服吗？"}
_HANDOFF_BUTTON = {"en": "Talk to a person", "zh": "转人工客服"}
BUSY_WINDOW_S = 10.0
_NEVER_GENERATED_PREFIXES = ("utter_ask_", "utter_default", "utter_handoff", "utter_intent_label_", "utter_ask_rephrase")


class GenerationService:
    """Wraps an `AnswerGenerator` for the async server: one generation at a time, off the event loop."""

    def __init__(self, generator: AnswerGenerator, *, answer_mode: str = "hybrid", max_waiting: int = 0,
                 max_busy_share: float = 0.25, max_turns_in_flight: int = 4) -> None:
        if answer_mode not in ANSWER_MODES:
            raise ValueError(f"answer_mode must be one of {', '.join(ANSWER_MODES)}, got {answer_mode!r}")
        self.generator = generator
        self.answer_mode = answer_mode
        self.max_waiting = max_waiting
        # Generation is CPU-bound: running two at once only makes both slower.
        self._lock = threading.Lock()
        self._pending = 0  # answers running or waiting for the lock (event-loop side only)
        self.max_busy_share = max_busy_share
        self.max_turns_in_flight = max_turns_in_flight
        self._busy: deque[tuple[float, float]] = deque()  # (finished at, seconds spent) of recent answers
        knowledge = generator.knowledge.passages if generator.knowledge is not None else []
        # Deciding must be cheap (it runs on the event loop for every response): intents the
        # knowledge base was written for, not an embedding of the customer's message.
        self.knowledge_intents = frozenset(intent for passage in knowledge for intent in passage.intents)

    @classmethod
    def load(cls, model_dir: str | Path, project_dir: str | Path, *, answer_mode: str = "hybrid",
             predictor: Any | None = None, threads: int | None = None) -> GenerationService | None:
        """The service for a model folder, or None when the folder has no decoder (templates only)."""
        from nlu_model.generation.artefacts import has_decoder

        if answer_mode == "template" or not has_decoder(model_dir):
            return None
        project_dir = Path(project_dir)
        generator = AnswerGenerator.load(model_dir, predictor=predictor, knowledge_dir=project_dir / "knowledge",
                                         settings_path=project_dir / "settings.yml", threads=threads)
        return cls(generator, answer_mode=answer_mode)

    @classmethod
    def for_nlu(cls, nlu: Any, project_dir: str | Path, *, answer_mode: str) -> GenerationService | None:
        """The service for a serving `bot.nlu.NluService`'s model folder, sharing its encoder;
        None when the mode is `template`, the folder has no decoder, or it cannot be loaded
        (logged: the bot then answers with templates)."""
        model_dir = getattr(nlu, "model_dir", None)
        if answer_mode == "template" or model_dir is None:
            return None
        try:
            from nlu_model.inference import Predictor

            # Share the serving model when it lives in this process; else load one here.
            predictor = getattr(nlu.parser, "predictor", None)
            service = cls.load(model_dir, project_dir, answer_mode=answer_mode,
                               predictor=predictor if isinstance(predictor, Predictor) else None, threads=1)
        except Exception:
            log.exception("the answer decoder in %s could not be loaded; answering with templates", model_dir)
            return None
        if service is None:
            log.info("no answer decoder in %s: answer_mode %s answers with templates", model_dir, answer_mode)
        return service

    def busy_share(self) -> float:
        """Share of the last `BUSY_WINDOW_S` seconds spent writing answers."""
        horizon = time.monotonic() - BUSY_WINDOW_S
        while self._busy and self._busy[0][0] < horizon:
            self._busy.popleft()
        return sum(seconds for _, seconds in self._busy) / BUSY_WINDOW_S

    # -- deciding -------------------------------------------------------------------------
    def wants_generation(self, response_name: str, variations: list[dict[str, Any]], utterance: str, intent: str | None) -> bool:
        """Whether this response (about to be said for `utterance`) is answered by the generator."""
        if self.answer_mode == "template" or not utterance or response_name.startswith(_NEVER_GENERATED_PREFIXES):
            return False
        if any(v.get("generate") is False for v in variations):
            return False  # a response may opt out explicitly
        if self.answer_mode == "generate" or any(v.get("generate") for v in variations):
            return True
        return intent is not None and intent in self.knowledge_intents

    # -- answering ------------------------------------------------------------------------
    @staticmethod
    def request_for(tracker: Any, *, has_template: bool = True) -> AnswerRequest:
        """The decoder's input from a tracker: latest message, its intent, the slots, earlier texts."""
        latest = tracker.latest_message or {}
        conversation = [e.get("text") or "" for e in tracker.events if e.get("event") in ("user", "bot")]
        return AnswerRequest(
            utterance=latest.get("text") or "",
            intent=(latest.get("intent") or {}).get("name"),
            slots=dict(tracker.slots),
            conversation=conversation,
            has_template=has_template,
            language=(tracker.slots or {}).get("language"),
        )

    async def generate(self, request: AnswerRequest, *, on_token: TokenCallback | None = None,
                       stream_id: str | None = None) -> GeneratedAnswer:
        """Write a guarded answer in a worker thread, forwarding pieces to `on_token` as they come."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | GeneratedAnswer | BaseException] = asyncio.Queue()
        stream_id = stream_id or uuid.uuid4().hex

        def work() -> None:
            try:
                with self._lock:
                    for piece in self.generator.stream(request):
                        loop.call_soon_threadsafe(queue.put_nowait, piece)
            except BaseException as exc:  # handed to the awaiting task, which re-raises it
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, work)
        try:
            while True:
                piece = await queue.get()
                if isinstance(piece, BaseException):
                    raise piece
                if isinstance(piece, GeneratedAnswer):
                    return piece
                if on_token is not None:
                    await on_token(stream_id, piece)
        finally:
            await worker

    async def apply(self, event: dict[str, Any], tracker: Any, responses: Mapping[str, list[dict[str, Any]]], *,
                    on_token: TokenCallback | None = None, turns_in_flight: int = 1) -> dict[str, Any]:
        """The `bot` event to store for a template `event`: generated when wanted and guarded, else `event`.

        `turns_in_flight`: customer turns this process is running now (this one included).

        Never raises for a generator failure: it is logged and the template is kept.
        """
        metadata = event.get("metadata") or {}
        name = metadata.get("utter_action") or ""
        request = self.request_for(tracker, has_template=bool(event.get("text")))
        if event.get("event") != "bot" or not self.wants_generation(name, list(responses.get(name, [])), request.utterance, request.intent):
            return event
        if (self._pending >= 1 + self.max_waiting or self.busy_share() >= self.max_busy_share
                or turns_in_flight > self.max_turns_in_flight):
            kept = dict(event)
            kept["metadata"] = {**metadata, "generation": {"decision": "busy"}}
            return kept
        stream_id = uuid.uuid4().hex
        self._pending += 1
        started = time.monotonic()
        try:
            answer = await self.generate(request, on_token=on_token, stream_id=stream_id)
        except Exception:
            log.exception("answer generation failed for %s; the template answers", name)
            return event
        finally:
            self._pending -= 1
            self._busy.append((time.monotonic(), time.monotonic() - started))
        generation = answer.metadata()
        generation["generation"]["stream_id"] = stream_id
        if answer.shipped:
            new_event = dict(event)
            new_event["text"] = answer.text
            new_event["metadata"] = {**metadata, **generation}
            return new_event
        # Staff review what the guard stopped, next to why.
        generation["generation"]["rejected_text"] = answer.generated_text
        kept = dict(event)
        kept["metadata"] = {**metadata, **generation, "source": "template"}
        if answer.verdict.decision == "handoff":
            # No template text to fall back on: offer a person instead of saying nothing.
            language = "zh" if (tracker.slots or {}).get("language") == "zh" else "en"
            kept["text"] = _HANDOFF_OFFER[language]
            kept["data"] = {**(event.get("data") or {}), "buttons": [{"title": _HANDOFF_BUTTON[language], "payload": "/contact_human_agent"}]}
        return kept

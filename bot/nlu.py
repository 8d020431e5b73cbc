"""The bot's door to the NLU model: payload shortcuts, language, micro-batched parsing.

This is the only module of ``bot`` that imports ``nlu_model.inference``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z0-9_.-]+)(?P<entities>\{.*\})?$", re.DOTALL)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_LATIN = re.compile(r"[A-Za-z]")


class Parser(Protocol):
    async def parse(self, text: str) -> dict[str, Any]: ...


def detect_language(text: str) -> str | None:
    """``"zh"`` when Chinese characters outnumber Latin letters, ``"en"`` when letters
    dominate, ``None`` when the text says nothing (digits, emoji, an order number)."""
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk == 0 and latin == 0:
        return None
    # One Chinese character carries about a word; weight it against letters accordingly.
    return "zh" if cjk * 4 >= latin else "en"


def parse_payload(text: str) -> dict[str, Any] | None:
    """Rasa's button payload syntax ``/intent`` or ``/intent{"entity": "value"}``."""
    match = _PAYLOAD.match(text.strip())
    if not match:
        return None
    entities: list[dict[str, Any]] = []
    if match.group("entities"):
        try:
            raw = json.loads(match.group("entities"))
        except json.JSONDecodeError:
            return None
        if not isinstance(raw, dict):
            return None
        entities = [{"entity": str(k), "value": v, "start": None, "end": None, "extractor": "payload"} for k, v in raw.items()]
    intent = {"name": match.group("intent"), "confidence": 1.0}
    return {"text": text, "intent": intent, "intent_ranking": [intent], "entities": entities}


class NluService:
    """Parses customer text: payloads directly, everything else through the model."""

    def __init__(self, parser: Parser, *, model_dir: Path | None = None,
                 on_parse: Callable[[float], None] | None = None) -> None:
        self.parser = parser
        self.model_dir = model_dir
        # Told how long each model parse took (seconds), for the NLU latency metric.
        self.on_parse = on_parse

    @classmethod
    def from_model_dir(cls, model_dir: Path, *, threads: int | None = 1, max_batch: int = 32,
                       in_process: bool | None = None) -> "NluService":
        """Load a model for serving. One torch thread by default: in a server the NLU
        competes with the event loop, and batching gives the throughput (measured: 8 ms per
        parse with 1 thread against 253 ms with 2 on a busy 2-core machine).

        The model runs in a thread beside the event loop (sharing its GIL) unless
        ``in_process`` is False (default: ``KEFU_NLU_PROCESS=1``): then it runs in a child
        process (``nlu_model.inference.PredictorProcess``), which costs a second copy of
        torch (~230 MB) and, on 2 busy cores, did not lower turn latency measurably.
        """
        from nlu_model.inference import BatchingPredictor, Predictor

        if in_process is None:
            in_process = os.environ.get("KEFU_NLU_PROCESS", "0") != "1"
        if in_process:
            predictor: Any = Predictor.load(model_dir, threads=threads)
        else:
            from nlu_model.inference import PredictorProcess

            predictor = PredictorProcess(model_dir, threads=threads)
        return cls(BatchingPredictor(predictor, max_batch=max_batch), model_dir=model_dir)

    async def parse(self, text: str) -> dict[str, Any]:
        payload = parse_payload(text)
        if payload is not None:
            payload["language"] = None
            payload["language_detected"] = False
            return payload
        started = time.perf_counter()
        parse = dict(await self.parser.parse(text))
        if self.on_parse is not None:
            self.on_parse(time.perf_counter() - started)
        detected = detect_language(text)
        parse["language"] = detected or parse.get("language")
        parse["language_detected"] = detected is not None
        return parse

    def close(self) -> None:
        close = getattr(self.parser, "close", None)
        if close is not None:
            close()
        # A child process holding the model (see from_model_dir) stops with the service.
        close_model = getattr(getattr(self.parser, "predictor", None), "close", None)
        if close_model is not None:
            close_model()

"""Writing an answer: greedy decoding with a KV cache, repetition control and streaming.

```python
generator = AnswerGenerator.load("models/default", knowledge_dir="dialogues/knowledge",
                                 settings_path="dialogues/settings.yml")
request = AnswerRequest("how long does delivery take?", intent="delivery_period", slots={})
for piece in generator.stream(request):       # str pieces as they are written ...
    if isinstance(piece, GeneratedAnswer):    # ... then one GeneratedAnswer, always last
        print(piece.text, piece.verdict.decision)
```
Pieces are whole words (or CJK characters) with placeholders already filled; a word holding
an ungrounded specific is never streamed (streaming stops there and the guard decides).
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..decoder import GenerationMemory
from ..inference import IDEOGRAPH, Predictor, detect_language
from .answer_intent import AnswerIntentClassifier
from .answer_tokenizer import BOS_ID, EOS_ID, PAD_ID, cjk_token_ids, placeholder_ids
from .artefacts import LoadedDecoder, load_decoder
from .guard import GuardThresholds, GuardVerdict, KnownFacts, judge
from .knowledge import KnowledgeBase, Passage, Retrieval
from .memory import MemoryEncoder, build_memory
from .placeholders import PLACEHOLDER, PlaceholderValues, render
from .settings import ShopSettings, load_settings


@dataclass(frozen=True)
class DecodingOptions:
    max_new_tokens: int = 150
    repetition_penalty: float = 1.0  # > 1 divides the logit of a token already written (CTRL-style).
    # Chosen on the tuning split (119 Bitext pairs never trained on, `benchmarks/generation.py --split
    # tuning`), never the held-out one: ROUGE-L 0.364 at 1.0, 0.358 at 1.05, 0.348 at 1.1, 0.344 at
    # 1.15; a long answer repeats "the", "your", "order" legitimately, and the penalty pushed
    # the decoder to spell out numbers instead of repeating a placeholder (fallbacks 4 % -> 8 %).
    no_repeat_ngram: int = 4  # a 4-gram is never written twice (the loop guard; 0, 3 and 6 were within 0.003)
    min_new_tokens: int = 0  # EOS is not allowed before this many tokens (latency benchmarks)


@dataclass
class AnswerRequest:
    utterance: str
    intent: str | None
    slots: Mapping[str, Any] = field(default_factory=dict)
    conversation: Sequence[str] = ()  # earlier texts of the conversation (customer and bot)
    has_template: bool = True  # whether a template can replace a failing answer
    language: str | None = None  # "en" | "zh": the customer's (the session's); None: detected from the utterance

    @property
    def answer_language(self) -> str:
        return self.language if self.language in ("en", "zh") else detect_language(self.utterance)


@dataclass
class GeneratedAnswer:
    text: str  # what to show: the generated answer, or "" when the guard rejected it
    generated_text: str  # what the decoder wrote, placeholders filled (kept for review)
    verdict: GuardVerdict
    passage_id: str | None
    tokens: int
    first_piece_ms: float | None
    total_ms: float

    @property
    def shipped(self) -> bool:
        return self.verdict.decision == "generated"

    def metadata(self) -> dict[str, Any]:
        """A `bot` event's metadata: `source` plus the scores and decision under `generation`."""
        generation = {**self.verdict.to_metadata(), "passage_id": self.passage_id}
        return {"source": "generated" if self.shipped else "template", "generation": generation}


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")


def _stream_boundary(text: str) -> int:
    """Length of the prefix made of complete words: up to the last space or CJK character."""
    for index in range(len(text) - 1, -1, -1):
        if text[index].isspace() or _CJK.match(text[index]):
            return index + 1
    return 0


def _cut_to_sentence(text: str) -> str:
    """An answer cut by the length limit ends at its last full sentence, not mid-word."""
    ends = [m.end() for m in re.finditer(r"[.!?。！？](?=\s|$)|[。！？]", text)]
    return text[: ends[-1]] if ends and ends[-1] > len(text) // 3 else text


# A Chinese answer may open with a brand name ("PayPal 和..."): this many characters without
# an ideograph before the stream is judged to be in the wrong language.
_LANGUAGE_EVIDENCE_CHARS = 16


def _may_be_in(language: str, text: str) -> bool:
    """False once `text` is long enough to tell it is not Chinese (English needs no telling: Chinese tokens are masked)."""
    return language != "zh" or len(text) < _LANGUAGE_EVIDENCE_CHARS or bool(IDEOGRAPH.search(text))


class AnswerGenerator:
    """The decoder, the NLU model it reads, the knowledge base and the shop's settings."""

    def __init__(self, predictor: Predictor, loaded: LoadedDecoder, *, knowledge: KnowledgeBase | None = None,
                 settings: ShopSettings | None = None, thresholds: GuardThresholds | None = None,
                 options: DecodingOptions | None = None) -> None:
        self.predictor = predictor
        self.decoder = loaded.decoder
        self.tokenizer = loaded.tokenizer
        self.decoder_info = loaded.info  # decoder.json: training report, held-out split, licence
        self.loaded = loaded
        self.memory_encoder = MemoryEncoder(predictor, loaded.intents)
        # The guard's intent check: which customer intent does the written answer answer?
        self.answer_intent = AnswerIntentClassifier(predictor, loaded.answer_intent)
        self.knowledge = knowledge
        self.settings = settings or ShopSettings()
        self.thresholds = thresholds or GuardThresholds(**loaded.info.get("guard", {}))
        self.options = options or DecodingOptions()
        self.placeholder_ids = placeholder_ids(self.tokenizer)
        self._cjk_ids = cjk_token_ids(self.tokenizer)
        self._id_to_placeholder = {i: name for name, i in self.placeholder_ids.items()}
        self._passage_states: dict[str, torch.Tensor] = {}
        if knowledge is not None and knowledge.passages:
            encoded = self.memory_encoder.encode([p.text for p in knowledge.passages])
            self._passage_states = {p.passage_id: s for p, s in zip(knowledge.passages, encoded.states)}
        # Settings do not change between answers: index their facts once.
        self._static_facts = KnownFacts(list(self.settings.values.values()))

    @classmethod
    def load(cls, model_dir: str | Path, *, predictor: Predictor | None = None, knowledge_dir: str | Path | None = None,
             settings_path: str | Path | None = None, threads: int | None = None) -> AnswerGenerator:
        """Load the decoder of `model_dir` (and the NLU model, unless `predictor` is given).

        Raises `DecoderFolderError` when the folder has no decoder, `ModelFolderError` when it is no model.
        """
        predictor = predictor or Predictor.load(model_dir, threads=threads)
        knowledge = KnowledgeBase.load(knowledge_dir, predictor.embed) if knowledge_dir is not None else None
        return cls(predictor, load_decoder(model_dir), knowledge=knowledge, settings=load_settings(settings_path))

    # -- pieces ---------------------------------------------------------------------------
    def retrieve(self, request: AnswerRequest, query_vector: torch.Tensor | None = None) -> Retrieval | None:
        if self.knowledge is None:
            return None
        return self.knowledge.retrieve(request.utterance, intent=request.intent, query_vector=query_vector)

    def known_facts(self, request: AnswerRequest, passage: Passage | None = None) -> KnownFacts:
        """What the answer may state: the conversation, the slots, the settings, and the passage it was given.

        Only the retrieved passage counts, not the whole knowledge base: "3 to 5 working days"
        is a fact about delivery, and stated in an answer about something else (or as an
        order number "5") it would be an invented one.
        """
        return self._static_facts.extended(
            [request.utterance, *request.conversation, *(str(v) for v in request.slots.values() if v is not None),
             passage.text if passage is not None else ""]
        )

    def _text(self, ids: Sequence[int], values: PlaceholderValues) -> str:
        raw = self.tokenizer.decode([i for i in ids if i not in (BOS_ID, EOS_ID, PAD_ID)], skip_special_tokens=False)
        # Fill only (no tidying) so that the streamed prefix never changes afterwards.
        return PLACEHOLDER.sub(lambda m: values.values.get(m.group(1), ""), raw)

    # -- decoding ---------------------------------------------------------------------------
    def stream(self, request: AnswerRequest, options: DecodingOptions | None = None) -> Iterator[str | GeneratedAnswer]:
        """Yield text pieces as they are written, then the guarded `GeneratedAnswer` (always last)."""
        options = options or self.options
        started = time.perf_counter()
        first_piece_ms: float | None = None
        encoded = self.memory_encoder.encode([request.utterance])
        retrieval = self.retrieve(request, encoded.pooled[0])
        passage = self._passage_states.get(retrieval.passage.passage_id) if retrieval else None
        memory: GenerationMemory = build_memory(encoded.states, [passage], [self.memory_encoder.intent_id(request.intent)])
        values = PlaceholderValues.collect(request.slots, self.settings.values, self.settings.sources)
        facts = self.known_facts(request, retrieval.passage if retrieval else None)
        # Never written: padding, a second BOS, and fact placeholders that have no value here.
        language = request.answer_language
        banned = torch.tensor(  # one index tensor per answer, not a list converted at every step
            [PAD_ID, BOS_ID, *(i for name, i in self.placeholder_ids.items() if not values.available(name)),
             # the decoder has Chinese answers too; an English customer never sees one
             *(self._cjk_ids if language == "en" else ())], dtype=torch.long)
        ids = [BOS_ID]
        log_probs: list[float] = []
        emitted = ""
        streaming = True
        finished = False  # the decoder wrote EOS (not cut by the length limit)
        with torch.inference_mode():
            caches, states, mask = self.decoder.start_cache(memory)
            logits = self.decoder.step(torch.tensor([[BOS_ID]]), 0, caches, states, mask)[0]
            max_tokens = min(options.max_new_tokens, self.decoder.config.max_len - 1)
            for position in range(1, max_tokens + 1):
                log_softmax = torch.log_softmax(logits, dim=-1)
                adjusted = self._adjust(logits.clone(), ids, banned, options)
                if position <= options.min_new_tokens:
                    adjusted[EOS_ID] = float("-inf")
                token = int(adjusted.argmax())
                log_probs.append(float(log_softmax[token]))
                if token == EOS_ID:
                    finished = True
                    break
                ids.append(token)
                if streaming:
                    text = self._text(ids, values)
                    boundary = _stream_boundary(text)
                    if boundary > len(emitted) and not text[:boundary].endswith("\ufffd"):
                        piece = text[len(emitted):boundary]
                        if facts.ungrounded(text[:boundary]) or not _may_be_in(language, text[:boundary]):
                            streaming = False  # the guard will not ship this answer: stop showing it
                        else:
                            emitted = text[:boundary]
                            if first_piece_ms is None:
                                first_piece_ms = (time.perf_counter() - started) * 1000
                            yield piece
                if position == max_tokens:
                    break
                logits = self.decoder.step(torch.tensor([[token]]), position, caches, states, mask)[0]
        generated = render(self._text(ids, values), values)
        if not finished:
            generated = _cut_to_sentence(generated)
        # The last word(s) were never checked while streaming: check them before showing them.
        if streaming and generated.startswith(emitted) and len(generated) > len(emitted) and not facts.ungrounded(generated):
            tail = generated[len(emitted):]
            if first_piece_ms is None:
                first_piece_ms = (time.perf_counter() - started) * 1000
            yield tail
        verdict = self._verdict(request, generated, log_probs, facts, language)
        yield GeneratedAnswer(
            text=generated if verdict.decision == "generated" else "",
            generated_text=generated,
            verdict=verdict,
            passage_id=retrieval.passage.passage_id if retrieval else None,
            tokens=len(ids) - 1,
            first_piece_ms=first_piece_ms,
            total_ms=(time.perf_counter() - started) * 1000,
        )

    def generate(self, request: AnswerRequest, options: DecodingOptions | None = None) -> GeneratedAnswer:
        """The whole answer at once (the stream, consumed)."""
        for piece in self.stream(request, options):
            if isinstance(piece, GeneratedAnswer):
                return piece
        raise AssertionError("stream ended without an answer")  # stream always ends with one

    def _adjust(self, logits: torch.Tensor, ids: list[int], banned: torch.Tensor, options: DecodingOptions) -> torch.Tensor:
        logits[banned] = float("-inf")
        if len(ids) > 1 and options.repetition_penalty != 1.0:
            seen = torch.tensor(sorted(set(ids[1:])))
            values = logits[seen]
            logits[seen] = torch.where(values > 0, values / options.repetition_penalty, values * options.repetition_penalty)
        n = options.no_repeat_ngram
        if n > 1 and len(ids) >= n:
            prefix = tuple(ids[-(n - 1):])
            for start in range(len(ids) - n + 1):
                if tuple(ids[start : start + n - 1]) == prefix:
                    logits[ids[start + n - 1]] = float("-inf")
        return logits

    def _verdict(self, request: AnswerRequest, generated: str, log_probs: list[float], facts: KnownFacts,
                 language: str) -> GuardVerdict:
        confidence = sum(log_probs) / len(log_probs) if log_probs else float("-inf")
        answer_intent = self.answer_intent.classify([generated])[0] if generated else None
        return judge(confidence, request.intent, answer_intent, facts.ungrounded(generated), self.thresholds,
                     has_template=request.has_template, language_consistent=detect_language(generated) == language)

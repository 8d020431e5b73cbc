"""Guardrails: may a generated answer be shown, or does the template (or a person) answer instead?

Three checks, each stored with the decision so staff can review it:
- confidence: the mean log-probability of the answer's tokens (the decoder's own certainty);
- intent consistency: the NLU model classifies the answer back; its top intent must be the
  customer's intent;
- grounding: every specific in the answer (number, date, time, price, e-mail, URL, phone, order
  id) must appear in what is known: the conversation, the slots, the settings or the knowledge
  base. An invented order number or price is never shipped.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

SHIPPED = "generated"
FALLBACK_TO_TEMPLATE = "fallback_to_template"
HANDOFF = "handoff"


@dataclass(frozen=True)
class GuardThresholds:
    min_confidence: float = -1.0  # mean token log-probability below this -> not shipped
    require_intent_consistency: bool = True
    require_grounding: bool = True


# Most specific first: a span taken by one kind is not matched again by a later one.
_SPECIFIC_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("url", re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|de|cn|io|shop|co|uk|eu)\b(?:/\S*)?", re.IGNORECASE)),
    ("price", re.compile(r"[$€£¥]\s?\d[\d.,]*|\d[\d.,]*\s?(?:EUR|USD|GBP|CNY|RMB|euros?|dollars?|欧元|美元|元)", re.IGNORECASE)),
    ("phone", re.compile(r"\+\d[\d\s()./-]{5,}\d|\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}")),
    ("order_id", re.compile(r"\b[A-Z]{2,5}-?\d{3,}\b|\b\d{6,}\b")),
    ("date", re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?\b|\d{1,2}月\d{1,2}日")),
    ("time", re.compile(r"\b\d{1,2}:\d{2}\b")),
    ("number", re.compile(r"\d+(?:[.,]\d+)*(?:%|st|nd|rd|th)?")),
]
# "1. Log in ..." at the start of a line numbers a step; it states no fact.
_LIST_MARKER = re.compile(r"(?m)^\s*\d{1,2}[.)]\s")


@dataclass(frozen=True)
class Specific:
    kind: str
    text: str


def find_specifics(text: str) -> list[Specific]:
    """Every specific in `text`, in order of appearance; list markers are not specifics."""
    taken = [False] * len(text)
    for marker in _LIST_MARKER.finditer(text):
        for i in range(marker.start(), marker.end()):
            taken[i] = True
    found: list[tuple[int, Specific]] = []
    for kind, pattern in _SPECIFIC_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(taken[start:end]):
                continue
            for i in range(start, end):
                taken[i] = True
            found.append((start, Specific(kind, match.group().rstrip(".,"))))
    return [specific for _, specific in sorted(found, key=lambda item: item[0])]


def _normalise(text: str) -> str:
    return re.sub(r"[\s()./,-]", "", text.lower())


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


class KnownFacts:
    """The texts an answer may take specifics from; `is_grounded(specific)` checks one."""

    def __init__(self, texts: Iterable[str]) -> None:
        joined = "\n".join(t for t in texts if t)
        self._normalised = _normalise(joined)
        self._numbers = {_digits(m.group()) for m in re.finditer(r"\d+(?:[.,:]\d+)*", joined)}
        self._digit_runs = {_digits(m.group()) for m in re.finditer(r"\+?\d[\d\s()./-]*\d|\d", joined)}

    def extended(self, texts: Iterable[str]) -> KnownFacts:
        """These facts plus `texts` (the static part, settings and knowledge, is indexed once)."""
        more = KnownFacts(texts)
        more._normalised = self._normalised + "\n" + more._normalised
        more._numbers |= self._numbers
        more._digit_runs |= self._digit_runs
        return more

    def is_grounded(self, specific: Specific) -> bool:
        digits = _digits(specific.text)
        if specific.kind == "phone":
            # Same digits, any spacing or dashes: "+1 555 0100" == "+15550100".
            return digits in self._digit_runs
        if specific.kind in ("number", "price"):
            # A price is grounded when its amount is known ("4.90 EUR" == "4.90欧元").
            return digits in self._numbers
        if specific.kind == "order_id" and digits in self._numbers:
            return _normalise(specific.text) in self._normalised
        return _normalise(specific.text) in self._normalised

    def ungrounded(self, answer: str) -> list[str]:
        """The specifics of `answer` not found in the known texts (each once, in order)."""
        out: list[str] = []
        for specific in find_specifics(answer):
            if not self.is_grounded(specific) and specific.text not in out:
                out.append(specific.text)
        return out


@dataclass
class GuardVerdict:
    confidence: float
    intent_consistent: bool
    answer_intent: str | None
    grounded: bool
    ungrounded: list[str] = field(default_factory=list)
    decision: str = SHIPPED
    language_consistent: bool = True  # written in the customer's language

    def to_metadata(self) -> dict[str, Any]:
        """The `generation` part of a bot event's metadata."""
        values = asdict(self)
        values["confidence"] = round(self.confidence, 4)
        return values


def judge(confidence: float, intent: str | None, answer_intent: str | None, ungrounded: list[str],
          thresholds: GuardThresholds, *, has_template: bool, language_consistent: bool = True) -> GuardVerdict:
    """Decide: ship the generated answer, fall back to the intent's template, or offer a person."""
    consistent = intent is not None and answer_intent == intent
    passes = (
        language_consistent
        and confidence >= thresholds.min_confidence
        and (consistent or not thresholds.require_intent_consistency)
        and (not ungrounded or not thresholds.require_grounding)
    )
    decision = SHIPPED if passes else FALLBACK_TO_TEMPLATE if has_template else HANDOFF
    return GuardVerdict(confidence, consistent, answer_intent, not ungrounded, list(ungrounded), decision, language_consistent)

"""Masking personal data before it is written to the archive: card numbers, e-mails, phones.

:func:`redact_text` returns the masked text; :func:`redact_event` masks every string of a
Rasa event and moves the entity spans of a ``user`` event to the masked text, so the staff
pages and the training export stay consistent with what is stored.

What counts:

- a **card number** is 13–19 digits (single spaces or dashes allowed between groups) that
  pass the Luhn check *and* start like a real card network (Visa, Mastercard, Amex,
  Discover, JCB, UnionPay, Diners). The network prefix keeps the shop's long order numbers
  (which pass Luhn one time in ten) readable.
- an **e-mail** is ``local@domain.tld``.
- a **phone number** is written like one: ``+`` and 8–15 digits, or 9–15 digits in groups
  separated by spaces, dashes, dots or parentheses (``(555) 123-4567``, ``020 7946 0958``).
  A bare run of digits is only a phone when a phone word stands just before it
  (``phone``, ``mobile``, ``call``, ``tel``, ``whatsapp``, ``电话``, ``手机``…), because bare
  digits are usually order numbers here. Dates (``2024-05-01``) are never phones.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

CARD_MASK = "<CARD>"
EMAIL_MASK = "<EMAIL>"
PHONE_MASK = "<PHONE>"
MASKS = (CARD_MASK, EMAIL_MASK, PHONE_MASK)

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")
# Digit groups joined by at most one space or dash, not glued to other digits.
_CARD_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6011|65|64[4-9]|35|62|3(?:0[0-5]|[68]))")
_PHONE_FORMATTED = re.compile(
    r"(?<![0-9A-Za-z_+])(?:\+\s?\d[\d\s().-]{6,22}\d|\(?\d{2,5}\)?(?:[\s.-]+\(?\d{2,5}\)?){1,5})(?![0-9A-Za-z_])"
)
_PHONE_WORDS = re.compile(
    r"(?:phone|mobile|cell|call|tel|telephone|whatsapp|wechat|sms|text me|电话|手机|联系方式|微信)"
    r"[^\d\n]{0,20}$",
    re.IGNORECASE,
)
# Latin letters and digits only: a Chinese character right before a number is normal.
_BARE_DIGITS = re.compile(r"(?<![0-9A-Za-z_+])\d{8,15}(?![0-9A-Za-z_])")
_DATE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")

# Event fields that are names or ids chosen by the code, never free text from a person.
_SKIP_KEYS = frozenset({
    "event", "name", "message_id", "input_channel", "policy", "utter_action", "source", "entity",
    "extractor", "role", "group", "label", "language", "state", "agent", "action_name", "stream_id",
})


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    mask: str


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (what card numbers carry)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _find_spans(text: str) -> list[_Span]:
    spans: list[_Span] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s.start or start >= s.end for s in spans)

    for match in _EMAIL.finditer(text):
        spans.append(_Span(match.start(), match.end(), EMAIL_MASK))
    for match in _CARD_CANDIDATE.finditer(text):
        digits = _digits(match.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits) and free(*match.span()):
            spans.append(_Span(match.start(), match.end(), CARD_MASK))
    for match in _PHONE_FORMATTED.finditer(text):
        raw = match.group().strip()
        digits = _digits(raw)
        international = raw.startswith("+")
        wanted = 8 if international else 9
        if wanted <= len(digits) <= 15 and not _DATE.match(raw) and free(*match.span()):
            spans.append(_Span(match.start(), match.end(), PHONE_MASK))
    for match in _BARE_DIGITS.finditer(text):
        if free(*match.span()) and _PHONE_WORDS.search(text[max(0, match.start() - 40) : match.start()]):
            spans.append(_Span(match.start(), match.end(), PHONE_MASK))
    return sorted(spans, key=lambda s: s.start)


@dataclass(frozen=True)
class OffsetMap:
    """Maps character offsets of the original text to the masked text."""

    old_starts: tuple[int, ...]
    old_ends: tuple[int, ...]
    new_starts: tuple[int, ...]
    new_ends: tuple[int, ...]

    def start(self, offset: int) -> int:
        """Where a span starting at ``offset`` starts now (a mask's start when inside one)."""
        index = bisect_right(self.old_starts, offset) - 1
        if index < 0:
            return offset
        if offset < self.old_ends[index]:
            return self.new_starts[index]
        return self.new_ends[index] + (offset - self.old_ends[index])

    def end(self, offset: int) -> int:
        """Where a span ending at ``offset`` (exclusive) ends now (a mask's end when inside one)."""
        index = bisect_right(self.old_starts, offset - 1) - 1
        if index < 0:
            return offset
        if offset <= self.old_ends[index]:
            return self.new_ends[index]
        return self.new_ends[index] + (offset - self.old_ends[index])


def redact_with_offsets(text: str) -> tuple[str, OffsetMap]:
    """The masked text and the map from offsets in ``text`` to offsets in it."""
    spans = _find_spans(text)
    parts: list[str] = []
    cursor = length = 0
    old_starts: list[int] = []
    old_ends: list[int] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    for span in spans:
        parts.append(text[cursor : span.start])
        length += span.start - cursor
        old_starts.append(span.start)
        old_ends.append(span.end)
        new_starts.append(length)
        parts.append(span.mask)
        length += len(span.mask)
        new_ends.append(length)
        cursor = span.end
    parts.append(text[cursor:])
    return "".join(parts), OffsetMap(tuple(old_starts), tuple(old_ends), tuple(new_starts), tuple(new_ends))


def redact_text(text: str) -> str:
    """``text`` with card numbers, e-mail addresses and phone numbers masked."""
    return redact_with_offsets(text)[0]


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: (v if k in _SKIP_KEYS else _redact_value(v)) for k, v in value.items()}
    return value


def redact_entities(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Mask ``text`` and move each entity's ``start``/``end`` to the masked text.

    An entity that overlaps a mask gets the masked surface as its value, so the personal
    data cannot survive in ``value`` either.
    """
    masked, offsets = redact_with_offsets(text)
    moved: list[dict[str, Any]] = []
    for entity in entities:
        entity = dict(entity)
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
            new_start, new_end = offsets.start(start), offsets.end(end)
            entity["start"], entity["end"] = new_start, new_end
            surface = masked[new_start:new_end]
            if surface != text[start:end]:
                entity["value"] = surface
        if isinstance(entity.get("value"), str):
            entity["value"] = redact_text(entity["value"])
        moved.append(entity)
    return masked, moved


def redact_event(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Rasa event with personal data masked in every free-text field.

    For a ``user`` event the text and the entity spans in ``parse_data`` stay aligned.
    """
    redacted = _redact_value(event)
    if event.get("event") == "user" and isinstance(event.get("text"), str):
        parse = event.get("parse_data")
        if isinstance(parse, dict):
            masked, entities = redact_entities(event["text"], list(parse.get("entities") or []))
            redacted["text"] = masked
            new_parse = dict(redacted["parse_data"])
            new_parse["text"] = masked
            if parse.get("entities") is not None:
                new_parse["entities"] = entities
            redacted["parse_data"] = new_parse
    return redacted

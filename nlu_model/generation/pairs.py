"""Training pairs for the answer decoder: (customer utterance, intent, passage?) -> answer.

Three sources, all with answers whose fact placeholders are canonical (`placeholders.py`):
- Bitext's customer-support responses (`load_bitext_pairs`): 4,514 utterance/intent/answer
  rows. **Licence: CDLA-Sharing-1.0** — pairs derived from it, and a decoder trained on them,
  keep that licence (see the dataset's LICENSE; `decoder.json` records it).
- a Rasa project's responses (`load_project_pairs`): each intent's NLU examples paired with
  the response its rule (or the `utter_<intent>` naming convention) gives, per language.
- the knowledge base (`knowledge_pairs`): a passage's example questions -> the passage text,
  with the passage in the decoder's memory, so the decoder learns to say what it reads.
- Bitext answers to questions the knowledge base covers (`grounded_answer`, used by
  `train.as_served`): Bitext's own answers there state a generic shop's facts ("we accept Visa,
  PayPal, ..."), so the decoder learns Bitext's opening and closing around *our* passage.

`stratified_split(pairs, fraction, seed)` holds out the same share of every intent; the same
seed always gives the same split (the benchmark's held-out 10 % is never trained on).
`bitext_splits` adds a small tuning split for decoding options.
"""
from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..data import load_training_data
from ..inference import detect_language
from .knowledge import Passage
from .placeholders import DEFAULT_SOURCES, PLACEHOLDER, canonicalize, token_for

BITEXT_LICENSE = "CDLA-Sharing-1.0"
DEFAULT_BITEXT_CSV = Path("/work/shared/datasets/bitext-customer-support/responses_4514/Bitext_Sample_Customer_Support_Training_Dataset.csv")


@dataclass(frozen=True)
class GenerationPair:
    utterance: str
    intent: str
    answer: str  # with canonical `{{Placeholder}}` tokens
    passage_id: str | None = None  # the knowledge passage in the decoder's memory (train.as_served adds retrieval's)
    source: str = "bitext"  # bitext | domain | knowledge | grounded (a Bitext answer framing a passage)


# Sources whose answer reads its passage: the passage is never left out of memory for them.
READS_PASSAGE = frozenset({"knowledge", "grounded"})
# Sources written by Bitext (the grounded ones keep its opening and closing).
FROM_BITEXT = frozenset({"bitext", "grounded"})


def load_bitext_pairs(csv_path: str | Path = DEFAULT_BITEXT_CSV) -> list[GenerationPair]:
    """Bitext rows as pairs, answers canonicalised (and `\r\n` as `\n`); rows without an answer are skipped."""
    with open(csv_path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        GenerationPair(row["instruction"].strip(), row["intent"].strip(), canonicalize(row["response"].strip().replace("\r\n", "\n")))
        for row in rows
        if row.get("response", "").strip() and row.get("instruction", "").strip()
    ]


def stratified_split(pairs: Sequence[GenerationPair], fraction: float, seed: int) -> tuple[list[GenerationPair], list[GenerationPair]]:
    """(train, held_out): `fraction` of every intent's pairs held out, chosen by `seed`."""
    by_intent: dict[str, list[GenerationPair]] = defaultdict(list)
    for pair in pairs:
        by_intent[pair.intent].append(pair)
    rng = random.Random(seed)
    train, held_out = [], []
    for intent in sorted(by_intent):
        group = list(by_intent[intent])
        rng.shuffle(group)
        cut = max(1, round(len(group) * fraction)) if len(group) > 1 else 0
        held_out += group[:cut]
        train += group[cut:]
    return train, held_out


def bitext_splits(pairs: Sequence[GenerationPair], *, held_out_fraction: float, tuning_fraction: float,
                  seed: int) -> tuple[list[GenerationPair], list[GenerationPair], list[GenerationPair]]:
    """(train, tuning, held_out), each stratified by intent.

    The held-out split (the benchmark's, chosen by `seed`) is exactly `stratified_split`'s;
    the tuning split (`seed + 1`, from the rest) is not trained on either: decoding options
    are chosen on it, never on the held-out split.
    """
    rest, held_out = stratified_split(pairs, held_out_fraction, seed)
    train, tuning = stratified_split(rest, tuning_fraction, seed + 1) if tuning_fraction > 0 else (rest, [])
    return train, tuning, held_out


_RASA_SLOT = re.compile(r"\{(\w+)\}")


def _slot_to_placeholder(text: str) -> str | None:
    """Rasa's `{order_id}` -> `{{Order Number}}`; None when a slot has no placeholder (skip the text)."""
    by_slot = {key: name for name, (kind, key) in DEFAULT_SOURCES.items() if kind == "slot"}
    missing = [slot for slot in _RASA_SLOT.findall(text) if slot not in by_slot]
    if missing:
        return None
    return _RASA_SLOT.sub(lambda m: token_for(by_slot[m.group(1)]), text)


def response_texts(domain: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Response name -> language -> texts, from a domain's `responses` (a `language: zh` condition marks Chinese)."""
    out: dict[str, dict[str, list[str]]] = {}
    for name, variations in (domain.get("responses") or {}).items():
        for variation in variations or []:
            text = variation.get("text") if isinstance(variation, dict) else None
            if not text:
                continue
            language = detect_language(text)
            out.setdefault(name, {}).setdefault(language, []).append(text)
    return out


def intent_responses(project: Path, domain: dict[str, Any]) -> dict[str, str]:
    """Intent -> the response that answers it: from rules/stories (`intent` then `utter_*`), else `utter_<intent>`."""
    mapping: dict[str, str] = {}
    for path in sorted((project / "data").glob("**/*.y*ml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for flow in [*(data.get("rules") or []), *(data.get("stories") or [])]:
            steps = flow.get("steps") or []
            for first, second in zip(steps, steps[1:]):
                action = second.get("action", "") if isinstance(second, dict) else ""
                if isinstance(first, dict) and "intent" in first and action.startswith("utter_"):
                    mapping.setdefault(first["intent"], action)
    for name in domain.get("responses") or {}:
        if name.startswith("utter_"):
            mapping.setdefault(name[len("utter_"):], name)
    return mapping


def project_answers(project: str | Path) -> dict[tuple[str, str], list[str]]:
    """(intent, language) -> the texts of the response answering it, slots written as placeholders."""
    project = Path(project)
    domain_path = project / "domain.yml"
    if not domain_path.is_file():
        return {}
    domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    texts = response_texts(domain)
    out: dict[tuple[str, str], list[str]] = {}
    for intent, name in intent_responses(project, domain).items():
        for language, variations in texts.get(name, {}).items():
            answers = [a for a in (_slot_to_placeholder(text) for text in variations) if a]
            if answers:
                out[(intent, language)] = answers
    return out


def load_project_pairs(project: str | Path, *, per_intent: int = 20, seed: int = 0,
                       skip: set[tuple[str, str]] = frozenset()) -> list[GenerationPair]:
    """Pairs from a Rasa project folder: up to `per_intent` NLU examples per intent and language -> its response.

    `skip`: (intent, language) combinations to leave out (another source answers them).
    """
    project = Path(project)
    answers_by_key = project_answers(project)
    if not answers_by_key:
        return []
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for example in load_training_data(project).examples:
        examples[(example.intent, detect_language(example.text))].append(example.text)
    rng = random.Random(seed)
    pairs = []
    for (intent, language), utterances in sorted(examples.items()):
        answers = answers_by_key.get((intent, language), [])
        if not answers or (intent, language) in skip:
            continue
        chosen = sorted(utterances)
        rng.shuffle(chosen)
        for index, utterance in enumerate(chosen[:per_intent]):
            pairs.append(GenerationPair(utterance, intent, answers[index % len(answers)], source="domain"))
    return pairs


def knowledge_pairs(passages: Sequence[Passage]) -> list[GenerationPair]:
    """Each passage's questions (and its title) -> the passage text, with the passage in memory."""
    pairs = []
    for passage in passages:
        intent = passage.intents[0] if passage.intents else ""
        for question in [passage.title, *passage.questions]:
            pairs.append(GenerationPair(question, intent, passage.text, passage.passage_id, source="knowledge"))
    return pairs


_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
# Asking for details, or a list announced: the passage answers instead, so such an opening goes.
_NOT_AN_OPENING = re.compile(r"\bprovide\b|\?|:\s*$|\bfollow(?:ing)? (?:these|the) steps\b", re.IGNORECASE)
# A closing that points back at the body it followed ("They will be delighted to assist you").
_DANGLING = re.compile(r"^(?:they|these|this|those|it|there|simply|once|then|here)\b", re.IGNORECASE)
_LONGEST_FRAME_WORDS = 30


def _frame_sentence(sentence: str, *, allowed_placeholders: set[str]) -> bool:
    """A sentence fit to frame a passage: short, no digits, no placeholders but the shop's own."""
    names = {m.group(1).strip() for m in PLACEHOLDER.finditer(sentence)}
    return (0 < len(sentence.split()) <= _LONGEST_FRAME_WORDS and not re.search(r"\d", PLACEHOLDER.sub("", sentence))
            and names <= allowed_placeholders and not sentence.lstrip().startswith(("-", "*", "1.")))


def grounded_answer(answer: str, passage: Passage) -> str:
    """Bitext's `answer` rewritten around `passage`: its opening sentence, the passage, its closing sentence.

    Bitext writes for a generic shop; where our knowledge base covers the question, the body of
    its answer (a list of payment methods, delivery options, refund steps) is replaced by what
    our passage says. The opening ("I understand you'd like to know ...") and the closing ("Let
    us know if ...") are kept when they state nothing (no digits; only the shop's settings
    placeholders), so answers stay varied and polite. Either may be dropped.
    """
    shop = {name for name, (kind, _) in DEFAULT_SOURCES.items() if kind == "setting"}
    paragraphs = [p.strip() for p in _PARAGRAPH.split(answer.strip()) if p.strip()]
    first = _SENTENCE.split(paragraphs[0].splitlines()[0])[0].strip() if paragraphs else ""
    last = _SENTENCE.split(paragraphs[-1])[-1].strip() if len(paragraphs) > 1 or len(_SENTENCE.split(paragraphs[0])) > 1 else ""
    opening = first if _frame_sentence(first, allowed_placeholders=set()) and not _NOT_AN_OPENING.search(first) else ""
    closing = last if last != first and _frame_sentence(last, allowed_placeholders=shop) and not last.endswith(":") and not _DANGLING.match(last) else ""
    return " ".join(part for part in (opening, passage.text, closing) if part)

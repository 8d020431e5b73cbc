#!/usr/bin/env python3
"""Derive the default bot's English NLU data from the Bitext customer-support datasets.

Reads the three Bitext files (``responses_4514``, ``intent_only_21k_2020`` and
``intent_only_8k_2022``), normalises intent names to the 27 Bitext intents, folds
duplicates (case- and whitespace-insensitive), validates Bitext's entity offsets, and
writes, under ``--out-dir`` (the repository's ``dialogues/`` by default):

* ``data/nlu.yml``: up to ``--cap`` examples per intent, sampled with ``--seed``;
* ``tests/nlu_entities_heldout.yml``: the first ``--heldout-fraction`` (by a seeded
  shuffle) of the entity-annotated ``responses_4514`` rows, kept out of ``nlu.yml`` so
  entity F1 can be measured on them;
* ``data/LICENSE-CDLA-Sharing-1.0.txt``: the licence the derived data stays under.

The output is byte-for-byte reproducible for the same inputs and options.
Run ``python tools/build_default_bot.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE_DIR = Path(
    os.environ.get("KEFU_BITEXT_DIR", "/work/shared/datasets/bitext-customer-support")
)
DEFAULT_OUT_DIR = REPO_ROOT / "dialogues"

RESPONSES_CSV = "responses_4514/Bitext_Sample_Customer_Support_Training_Dataset.csv"
INTENT_21K_CSV = "intent_only_21k_2020/TrainingdatasetBitextsample.csv"
INTENT_8K_CSV = "intent_only_8k_2022/Bitext_Sample_Customer_Service_Training_Dataset.csv"
LICENSE_NAME = "LICENSE-CDLA-Sharing-1.0.txt"

BITEXT_INTENTS: tuple[str, ...] = (
    "cancel_order", "change_order", "change_shipping_address", "check_cancellation_fee",
    "check_invoice", "check_payment_methods", "check_refund_policy", "complaint",
    "contact_customer_service", "contact_human_agent", "create_account", "delete_account",
    "delivery_options", "delivery_period", "edit_account", "get_invoice", "get_refund",
    "newsletter_subscription", "payment_issue", "place_order", "recover_password",
    "registration_problems", "review", "set_up_shipping_address", "switch_account",
    "track_order", "track_refund",
)  # fmt: skip
# The 2020 file spells one intent in the plural; the later files do not.
INTENT_ALIASES = {"check_invoices": "check_invoice"}

OFFENSIVE_FLAG = "W"  # Bitext's linguistic flag for offensive language
NEGATIVE = "negative"
PLACEHOLDER = re.compile(r"\{\{.*?\}\}")
# Characters that Rasa's `[text](entity)` / `[text]{...}` markup would misread.
MARKUP_CHARACTERS = re.compile(r"[\[\]{}]")

# Bitext annotates account types and refund amounts in some intents only, yet the same
# kind of value appears unannotated elsewhere ("open a new freemium account", "I expect
# a refund of $299"). Left as is, those would teach the entity tagger that the value is
# not an entity, so such spans are annotated with Bitext's own conventions.
ACCOUNT_TYPE_IN_CONTEXT = re.compile(
    r"\b(free|freemium|standard|premium|platinum|gold|pro)"
    r"(?=\s+(?:user\s+|online\s+)?(?:account|profile)s?\b)",
    re.IGNORECASE,
)
# Bitext's refund_amount spans hold the number only, without the currency sign.
MONEY_AMOUNT = re.compile(
    r"\$\s?(\d[\d,]*(?:\.\d+)?)\b|\b(\d[\d,]*(?:\.\d+)?)\s*(?:dollars|bucks|usd)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class EntitySpan:
    """One entity in an example's plain text, ``text[start:end]``."""

    start: int
    end: int
    entity_type: str


@dataclass(frozen=True)
class Example:
    """One training utterance with its intent, entity spans and optional sentiment."""

    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = ()
    sentiment: str | None = None
    bitext_annotated: bool = False

    @property
    def key(self) -> str:
        """The case- and whitespace-insensitive identity used for deduplication."""
        return fold(self.text)


class SourceDataError(ValueError):
    """A Bitext file does not look the way this script expects (columns, intents)."""


def fold(text: str) -> str:
    """Return ``text`` case-folded with runs of whitespace collapsed to one space."""
    return " ".join(text.casefold().split())


def normalise_intent(name: str) -> str:
    """Map a Bitext intent name to one of :data:`BITEXT_INTENTS` or raise SourceDataError."""
    intent = INTENT_ALIASES.get(name.strip(), name.strip())
    if intent not in BITEXT_INTENTS:
        raise SourceDataError(f"unknown Bitext intent {name!r}")
    return intent


def sentiment_for(intent: str, flags: str) -> str | None:
    """Negative for complaints and offensive language; ``None`` when not derivable."""
    if intent == "complaint" or OFFENSIVE_FLAG in flags:
        return NEGATIVE
    return None


def read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Read a CSV file (tolerating a UTF-8 BOM) and check it has the ``required`` columns."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(required) - set(reader.fieldnames or ())
        if missing:
            raise SourceDataError(f"{path}: missing columns {sorted(missing)}")
        return list(reader)


def collapse_whitespace(
    text: str, span: tuple[int, int] | None
) -> tuple[str, tuple[int, int] | None]:
    """Collapse whitespace runs and strip the ends, moving ``span`` along with the text."""
    if span is None:
        return " ".join(text.split()), None
    start, end = span
    prefix = re.sub(r"\s+", " ", text[:start]).lstrip()
    suffix = re.sub(r"\s+", " ", text[end:]).rstrip()
    value = text[start:end]
    return prefix + value + suffix, (len(prefix), len(prefix) + len(value))


def bitext_entity_span(row: dict[str, str]) -> tuple[int, int] | None:
    """Return a checked ``(start, end)`` for the row's entity, or None if the row has none.

    The offsets are the reliable part of Bitext's annotation: ``entity_value`` lost
    leading zeros and trailing digits ("00123842" became "123842", "160" became "1"),
    so the span is accepted when it contains the value case-insensitively. A span
    running past the text or ending in a comma/space is trimmed. Raises
    ValueError when the offsets do not point at the value or cut through a word
    (run-on typos such as "order732201349959", which a word-level tagger cannot label).
    """
    if not row["entity_type"].strip():
        return None
    text, value = row["instruction"], row["entity_value"].strip()
    start, end = int(row["start_offset"]), int(row["end_offset"])
    # Some texts were cut short after annotation ("$1200" -> "$12"), so an end offset
    # can overshoot; the value check below still decides whether the span is right.
    end = min(end, len(text))
    while end > start and text[end - 1] in " ,;:!?":
        end -= 1
    span_text = text[start:end]
    if not value or value.casefold() not in span_text.casefold():
        raise ValueError(f"offsets {start}:{end} of {text!r} do not hold {value!r}")
    touches_word = (start > 0 and text[start - 1].isalnum()) or (
        end < len(text) and text[end].isalnum()
    )
    if touches_word:
        raise ValueError(f"entity {span_text!r} is glued to a word in {text!r}")
    return start, end


def complete_annotations(example: Example) -> Example:
    """Annotate account types and money amounts Bitext left unannotated (see above)."""
    spans = [
        EntitySpan(match.start(1), match.end(1), "account_type")
        for match in ACCOUNT_TYPE_IN_CONTEXT.finditer(example.text)
    ]
    for match in MONEY_AMOUNT.finditer(example.text):
        group = 1 if match.group(1) is not None else 2
        spans.append(EntitySpan(match.start(group), match.end(group), "refund_amount"))
    if not spans:
        return example
    return replace(example, entities=tuple(sorted(spans, key=lambda span: span.start)))


@dataclass
class LoadReport:
    """What happened to the raw rows while loading, printed at the end of a build."""

    rows_read: Counter[str]
    dropped: Counter[str]


def load_bitext(source_dir: Path) -> tuple[list[Example], LoadReport]:
    """Read the three Bitext files into Examples, best source first.

    Order matters to deduplication, which keeps the first of equal texts: annotated
    ``responses_4514`` rows first (so annotations survive), then its other rows, then
    the 2022 file, then the 2020 file.
    """
    report = LoadReport(rows_read=Counter(), dropped=Counter())
    annotated: list[Example] = []
    plain: list[Example] = []

    response_rows = read_csv(
        source_dir / RESPONSES_CSV,
        (
            "instruction",
            "intent",
            "entity_type",
            "entity_value",
            "start_offset",
            "end_offset",
            "tags",
        ),
    )
    report.rows_read["responses_4514"] = len(response_rows)
    for row in response_rows:
        intent = normalise_intent(row["intent"])
        try:
            span = bitext_entity_span(row)
        except ValueError:
            report.dropped["bad entity offsets"] += 1
            continue
        text, span = collapse_whitespace(row["instruction"], span)
        entities = (
            () if span is None else (EntitySpan(span[0], span[1], row["entity_type"].strip()),)
        )
        example = Example(
            text, intent, entities, sentiment_for(intent, row["tags"]), bool(entities)
        )
        (annotated if entities else plain).append(example)

    for label, relative_path in (
        ("intent_only_8k_2022", INTENT_8K_CSV),
        ("intent_only_21k_2020", INTENT_21K_CSV),
    ):
        rows = read_csv(source_dir / relative_path, ("flags", "utterance", "intent"))
        report.rows_read[label] = len(rows)
        for row in rows:
            intent = normalise_intent(row["intent"])
            text, _ = collapse_whitespace(row["utterance"], None)
            plain.append(Example(text, intent, (), sentiment_for(intent, row["flags"])))

    usable: list[Example] = []
    for example in annotated + [complete_annotations(example) for example in plain]:
        if not example.text:
            report.dropped["empty"] += 1
        elif PLACEHOLDER.search(example.text):
            report.dropped["unfilled {{placeholder}}"] += 1
        elif MARKUP_CHARACTERS.search(example.text):
            report.dropped["brackets/braces (Rasa markup)"] += 1
        else:
            usable.append(example)
    return usable, report


def deduplicate(examples: Iterable[Example], report: LoadReport) -> list[Example]:
    """Keep the first example of each folded text; drop texts claimed by two intents."""
    first: dict[str, Example] = {}
    intents_by_key: dict[str, set[str]] = defaultdict(set)
    for example in examples:
        intents_by_key[example.key].add(example.intent)
        if example.key in first:
            report.dropped["duplicate"] += 1
        else:
            first[example.key] = example
    unique = []
    for key, example in first.items():
        if len(intents_by_key[key]) > 1:
            report.dropped["same text, different intents"] += 1
        else:
            unique.append(example)
    return unique


def split_heldout(
    examples: list[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Split off the first ``fraction`` of the Bitext-annotated examples by a seeded shuffle.

    Returns ``(heldout, rest)``; ``rest`` keeps the input order.
    """
    annotated = [example for example in examples if example.bitext_annotated]
    random.Random(seed).shuffle(annotated)
    heldout = annotated[: round(len(annotated) * fraction)]
    heldout_keys = {example.key for example in heldout}
    return heldout, [example for example in examples if example.key not in heldout_keys]


def sample_per_intent(examples: list[Example], cap: int, seed: int) -> dict[str, list[Example]]:
    """Pick at most ``cap`` examples per intent with a seeded sample.

    Bitext-annotated examples are scarce (about 1,300 rows in all), so up to half of an
    intent's quota is reserved for them; the rest is drawn from everything left, which
    keeps the templated annotated rows from crowding out varied phrasings.
    """
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    chosen: dict[str, list[Example]] = {}
    for intent in BITEXT_INTENTS:
        pool = by_intent.get(intent, [])
        rng = random.Random(f"{seed}:{intent}")
        annotated = [example for example in pool if example.bitext_annotated]
        reserved = rng.sample(annotated, min(len(annotated), cap // 2))
        reserved_keys = {example.key for example in reserved}
        rest = [example for example in pool if example.key not in reserved_keys]
        fill = rng.sample(rest, min(len(rest), cap - len(reserved)))
        chosen[intent] = sorted(reserved + fill, key=lambda example: (example.key, example.text))
    return chosen


def annotated_text(example: Example) -> str:
    """Render the example in Rasa's inline markup: ``cancel order [00123842](order_id)``."""
    text = example.text
    for span in sorted(example.entities, key=lambda span: span.start, reverse=True):
        text = f"{text[: span.start]}[{text[span.start : span.end]}]({span.entity_type}){text[span.end :]}"
    return text


def yaml_double_quoted(text: str) -> str:
    """Quote ``text`` as a YAML double-quoted scalar (the escapes are a subset of JSON's)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render_intent_blocks(intent: str, examples: list[Example]) -> list[str]:
    """YAML lines for one intent: a plain ``examples: |`` block, then one with metadata."""
    lines: list[str] = []
    plain = [example for example in examples if example.sentiment is None]
    with_metadata = [example for example in examples if example.sentiment is not None]
    if plain:
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {annotated_text(example)}" for example in plain]
    if with_metadata:
        lines += [f"- intent: {intent}", "  examples:"]
        for example in with_metadata:
            lines.append(f"  - text: {yaml_double_quoted(annotated_text(example))}")
            lines.append(f"    metadata: {{sentiment: {example.sentiment}}}")
    return lines


def render_nlu_file(examples_by_intent: dict[str, list[Example]], purpose: str) -> str:
    """A complete Rasa 3 NLU YAML document with a provenance header."""
    lines = [
        "# GENERATED by tools/build_default_bot.py; do not edit by hand, re-run the script.",
        f"# {purpose}",
        "# Derived from the Bitext customer-support datasets; licence CDLA-Sharing-1.0",
        f"# (see dialogues/data/{LICENSE_NAME} and dialogues/README.md).",
        'version: "3.1"',
        "nlu:",
    ]
    for intent in sorted(examples_by_intent):
        lines += render_intent_blocks(intent, examples_by_intent[intent])
    return "\n".join(lines) + "\n"


def group_by_intent(examples: Iterable[Example]) -> dict[str, list[Example]]:
    """Group examples by intent, each group sorted by folded text for stable output."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        groups[example.intent].append(example)
    return {
        intent: sorted(group, key=lambda e: (e.key, e.text)) for intent, group in groups.items()
    }


def build(
    source_dir: Path, out_dir: Path, *, cap: int, seed: int, heldout_fraction: float
) -> dict[str, list[Example]]:
    """Write nlu.yml, the held-out entity set and the licence under ``out_dir``.

    Returns the examples written to nlu.yml, by intent. Raises SourceDataError when a
    source file is missing a column or holds an unknown intent.
    """
    examples, report = load_bitext(source_dir)
    unique = deduplicate(examples, report)
    heldout, remaining = split_heldout(unique, heldout_fraction, seed)
    chosen = sample_per_intent(remaining, cap, seed)

    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    (out_dir / "tests").mkdir(parents=True, exist_ok=True)
    (out_dir / "data" / "nlu.yml").write_text(
        render_nlu_file(chosen, f"Up to {cap} examples per Bitext intent (seed {seed})."),
        encoding="utf-8",
    )
    (out_dir / "tests" / "nlu_entities_heldout.yml").write_text(
        render_nlu_file(
            group_by_intent(heldout),
            f"Held-out entity test set: {heldout_fraction:.0%} of the annotated responses_4514 rows "
            f"(seed {seed}); none of these texts is in data/nlu.yml.",
        ),
        encoding="utf-8",
    )
    shutil.copyfile(source_dir / "LICENSE", out_dir / "data" / LICENSE_NAME)
    print_summary(report, chosen, heldout)
    return chosen


def print_summary(
    report: LoadReport, chosen: dict[str, list[Example]], heldout: list[Example]
) -> None:
    """Print rows read, rows dropped and the per-intent counts of what was written."""
    print(
        "rows read:",
        ", ".join(f"{name} {count}" for name, count in sorted(report.rows_read.items())),
    )
    print(
        "dropped:",
        ", ".join(f"{reason} {count}" for reason, count in sorted(report.dropped.items())),
    )
    print(f"{'intent':<26} {'examples':>8} {'entities':>8} {'negative':>8}")
    for intent, examples in chosen.items():
        with_entities = sum(1 for example in examples if example.entities)
        negative = sum(1 for example in examples if example.sentiment == NEGATIVE)
        print(f"{intent:<26} {len(examples):>8} {with_entities:>8} {negative:>8}")
    total = sum(len(examples) for examples in chosen.values())
    entity_types = Counter(span.entity_type for example in heldout for span in example.entities)
    print(f"{'total':<26} {total:>8}")
    print(f"held out: {len(heldout)} annotated examples ({dict(sorted(entity_types.items()))})")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build dialogues/data/nlu.yml and the held-out entity test set from Bitext.",
    )
    parser.add_argument(
        "--source-dir",
        type=Path,
        default=DEFAULT_SOURCE_DIR,
        help="folder holding the Bitext datasets (default: %(default)s; env KEFU_BITEXT_DIR)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help="bot folder to write data/ and tests/ into (default: %(default)s)",
    )
    parser.add_argument(
        "--cap", type=int, default=300, help="examples per intent at most (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=20240607, help="random seed (default: %(default)s)"
    )
    parser.add_argument(
        "--heldout-fraction",
        type=float,
        default=0.2,
        help="share of annotated responses_4514 rows held out (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.cap < 1:
        parser.error("--cap must be at least 1")
    if not 0.0 <= args.heldout_fraction < 1.0:
        parser.error("--heldout-fraction must be in [0, 1)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    args = parse_args(argv)
    try:
        build(
            args.source_dir,
            args.out_dir,
            cap=args.cap,
            seed=args.seed,
            heldout_fraction=args.heldout_fraction,
        )
    except (OSError, SourceDataError) as error:
        print(f"build_default_bot: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

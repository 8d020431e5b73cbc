"""Entities from the training data's `regex` and `lookup` sections, and synonym mapping.

Rasa's RegexEntityExtractor finds an entity named after each regex / lookup table wherever its
pattern matches; lookups match whole words, case-insensitively. `synonyms` then maps a found
value (any extractor's) to its canonical value.
"""
from __future__ import annotations

import re
from typing import Any


class RuleEntityExtractor:
    """Compiled regex and lookup patterns; `extract(text)` returns Rasa-shaped entity dicts."""

    def __init__(self, regexes: dict[str, list[str]], lookups: dict[str, list[str]], synonyms: dict[str, str]) -> None:
        self.patterns: list[tuple[str, re.Pattern[str], str]] = []
        for name, patterns in regexes.items():
            for pattern in patterns:
                self.patterns.append((name, re.compile(pattern), "RegexEntityExtractor"))
        for name, values in lookups.items():
            if values:
                # Longest first, so "new york city" wins over "new york".
                alternatives = "|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True))
                self.patterns.append((name, re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE), "LookupEntityExtractor"))
        self.synonyms = {key.lower(): value for key, value in synonyms.items()}

    def extract(self, text: str) -> list[dict[str, Any]]:
        found = []
        for name, pattern, extractor in self.patterns:
            for match in pattern.finditer(text):
                if match.end() > match.start():
                    found.append(
                        {
                            "entity": name,
                            "value": match.group(0),
                            "start": match.start(),
                            "end": match.end(),
                            "confidence_entity": 1.0,
                            "role": None,
                            "extractor": extractor,
                        }
                    )
        return found

    def canonical(self, entity: dict[str, Any]) -> dict[str, Any]:
        """The entity with its value replaced by the synonym's canonical value, when there is one."""
        canonical = self.synonyms.get(str(entity["value"]).lower())
        if canonical is not None and canonical != entity["value"]:
            entity = {**entity, "value": canonical, "processors": ["EntitySynonymMapper"]}
        return entity


def merge_entities(tagged: list[dict[str, Any]], rule_based: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rule-based entities first (the bot's author wrote those patterns), then the tagger's that
    overlap none kept so far; longer matches win among overlapping rules. Sorted by start."""
    kept: list[dict[str, Any]] = []
    candidates = sorted(rule_based, key=lambda e: (e["start"], -(e["end"] - e["start"]))) + list(tagged)
    for entity in candidates:
        if all(entity["end"] <= other["start"] or entity["start"] >= other["end"] for other in kept):
            kept.append(entity)
    return sorted(kept, key=lambda e: e["start"])

"""Placeholders such as `{{Order Number}}`: canonical names, and filling them from slots and settings.

Answers in the training data name facts with placeholders instead of stating them (Bitext
writes `{{Customer Support Phone Number}}`, `{{Order Number Anonymized}}`, ...). Kefu keeps a
handful of *fact* placeholders as tokens of the answer vocabulary and turns every other one
(button and page names such as `{{Order Details}}`) into its plain words, because those are
labels, not facts. At answer time a fact placeholder is filled from the conversation's slots
or the shop's settings (`dialogues/settings.yml`); one without a value is never shown: the
decoder is not allowed to write it (`decoding.py` masks it), and `render` removes any left.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")

# Canonical fact placeholders and where their value comes from by default
# (`settings.yml`'s `placeholders:` section may override or add to this).
DEFAULT_SOURCES: dict[str, tuple[str, str]] = {
    "Order Number": ("slot", "order_id"),
    "Invoice Number": ("slot", "invoice_id"),
    "Refund Amount": ("slot", "refund_amount"),
    "Customer Name": ("slot", "person_name"),
    "Customer Support Phone Number": ("setting", "support_phone"),
    "Customer Support Email": ("setting", "support_email"),
    "Customer Support Hours": ("setting", "support_hours"),
    "Website Name": ("setting", "website"),
    "Company Name": ("setting", "shop_name"),
    # A fact no source can give (e.g. Bitext's "{{number of days}}"): never written.
    "Unknown Number": ("none", ""),
}
FACT_PLACEHOLDERS = list(DEFAULT_SOURCES)


def token_for(name: str) -> str:
    """The vocabulary token of a canonical placeholder: `{{Order Number}}`."""
    return "{{" + name + "}}"


def canonical_name(raw: str) -> str | None:
    """Map a raw placeholder name to a canonical fact placeholder, or None when it is a UI label."""
    name = raw.strip().lower()
    has_id = "number" in name or " id" in f" {name}" or name.endswith("id")
    if name.replace(" ", "").isdigit():
        return "Order Number"
    if "phone" in name:
        return "Customer Support Phone Number"
    if "email" in name or "e-mail" in name:
        return "Customer Support Email"
    if "availability" in name or "hours" in name or "working time" in name:
        return "Customer Support Hours"
    if "website" in name or "url" in name:
        return "Website Name"
    if "company name" in name:
        return "Company Name"
    if ("order" in name or "purchase" in name or "tracking" in name) and has_id:
        return "Order Number"
    if ("invoice" in name or "bill" in name) and has_id:
        return "Invoice Number"
    if "amount" in name or "money" in name or "price" in name or "date" in name or "number of" in name:
        return "Refund Amount" if "refund" in name else "Unknown Number"
    if name.endswith("name") and ("customer" in name or "client" in name or "first" in name or "last" in name):
        return "Customer Name"
    return None


def canonicalize(text: str) -> str:
    """Rewrite an answer so fact placeholders use canonical names and UI labels become plain words."""

    def replace(match: re.Match[str]) -> str:
        canonical = canonical_name(match.group(1))
        return token_for(canonical) if canonical else match.group(1).strip()

    return PLACEHOLDER.sub(replace, text)


@dataclass
class PlaceholderValues:
    """The values the fact placeholders of one answer may take (from slots and settings)."""

    values: dict[str, str]

    @classmethod
    def collect(
        cls,
        slots: Mapping[str, object],
        settings: Mapping[str, object],
        sources: Mapping[str, tuple[str, str]] | None = None,
    ) -> PlaceholderValues:
        """Resolve each canonical placeholder through its source; empty values count as missing."""
        values: dict[str, str] = {}
        for name, (kind, key) in (sources or DEFAULT_SOURCES).items():
            value = slots.get(key) if kind == "slot" else settings.get(key) if kind == "setting" else None
            if value not in (None, "", []):
                values[name] = str(value)
        return cls(values)

    def available(self, name: str) -> bool:
        return name in self.values


def placeholders_for_values(text: str, slots: Mapping[str, object], sources: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Filling backwards: each slot value stated in `text` becomes its placeholder (`{{Order Number}}`).

    Training answers repeat what the customer wrote ("cancel order 00123842"); the decoder
    cannot copy such a value, so it learns the placeholder that the slot fills when answering.
    Values shorter than 3 characters are left alone (too likely to match by accident).
    """
    by_slot = {key: name for name, (kind, key) in (sources or DEFAULT_SOURCES).items() if kind == "slot"}
    for slot, value in sorted(slots.items(), key=lambda item: -len(str(item[1]))):
        value = str(value).strip()
        if slot in by_slot and len(value) >= 3:
            text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", token_for(by_slot[slot]), text)
    return text


# Words that only announce a removed fact ("order number {{Order Number}}", "call us at {{...}}").
_ANNOUNCING = r"(?:(?:with\s+)?(?:the\s+)?(?:order\s+|invoice\s+)?(?:number|no\.|id|#)|at|on|via|to|is|:)"


def render(text: str, values: PlaceholderValues) -> str:
    """Fill fact placeholders; remove unfilled ones (and the words announcing them) cleanly; tidy spaces."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        canonical = name if name in DEFAULT_SOURCES or name in values.values else canonical_name(name)
        if canonical is None:
            return match.group(1).strip()
        return values.values.get(canonical, "\x00")  # \x00 marks a hole to remove below

    filled = PLACEHOLDER.sub(fill, text)
    filled = re.sub(rf"(?:\s+{_ANNOUNCING})?\s*\x00", "", filled, flags=re.IGNORECASE)
    filled = re.sub(r"[ \t]+([,.!?;:)])", r"\1", filled)
    filled = re.sub(r"([(])\s+", r"\1", filled)
    filled = re.sub(r"[ \t]{2,}", " ", filled)
    filled = re.sub(r"([,;:])(?=[.!?])", "", filled)
    return filled.strip()

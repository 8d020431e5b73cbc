"""A small copy of the default bot for tests: same domain, rules and stories, fewer examples.

Keeps the first ``per_intent`` examples of every intent from every NLU file (so Chinese
examples stay in), which lets the ``tiny`` model config train in seconds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent


def _trim_examples(examples: Any, per_intent: int) -> Any:
    if isinstance(examples, str):
        lines = [line for line in examples.splitlines() if line.strip().startswith("- ")]
        return "\n".join(lines[:per_intent]) + "\n"
    return list(examples)[:per_intent]


def make_tiny_project(destination: Path, *, per_intent: int = 40, source: Path = REPO_ROOT / "dialogues",
                      answer_mode: str = "template") -> Path:
    """Write a trimmed copy of the Rasa project ``source`` to ``destination``.

    ``answer_mode`` replaces the domain's: templates by default, so that tests about the
    dialogue see the curated texts; the generation tests ask for ``hybrid`` or ``generate``.
    """
    (destination / "data").mkdir(parents=True, exist_ok=True)
    domain = (source / "domain.yml").read_text(encoding="utf-8")
    domain, replaced = re.subn(r"(?m)^answer_mode: \w+$", f"answer_mode: {answer_mode}", domain)
    if not replaced:
        domain += f"\nanswer_mode: {answer_mode}\n"
    (destination / "domain.yml").write_text(domain, encoding="utf-8")
    for name in ("settings.yml", "knowledge"):
        if (source / name).is_file():
            (destination / name).write_bytes((source / name).read_bytes())
        elif (source / name).is_dir():
            (destination / name).mkdir(exist_ok=True)
            for path in (source / name).glob("*.md"):
                (destination / name / path.name).write_bytes(path.read_bytes())
    for path in sorted((source / "data").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if "nlu" in data:
            for item in data["nlu"]:
                if "intent" in item and "examples" in item:
                    item["examples"] = _trim_examples(item["examples"], per_intent)
        (destination / "data" / path.name).write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return destination


def nlu_examples(project: Path, intent: str) -> list[str]:
    """Plain example texts of ``intent`` across a project's NLU files (annotations removed)."""
    import re

    texts: list[str] = []
    for path in sorted((project / "data").glob("*.yml")):
        for item in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu", []):
            if item.get("intent") != intent:
                continue
            examples = item["examples"]
            raw = ([line.strip()[2:] for line in examples.splitlines() if line.strip().startswith("- ")]
                   if isinstance(examples, str) else [e["text"] for e in examples])
            texts += [re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", t) for t in raw]
    return texts

"""The knowledge base: short Markdown passages the answer generator retrieves and reads.

`dialogues/knowledge/*.md`: every `## Title` section is one passage. Optional lines right
under the title: `intents: a, b` (intents it answers) and `questions: q1 | q2` (example
questions: retrieval keys, and training pairs for the generator). The rest is the passage
text. HTML comments are ignored.

```python
kb = KnowledgeBase.load("dialogues/knowledge", embed=predictor.embed)
hit = kb.retrieve("how long does delivery take?")   # -> Retrieval(passage, score) or None
```
Retrieval is by the NLU encoder's sentence vectors (`Predictor.embed`): a passage's score is
the best cosine between the query and any of its keys (title, questions, text), among
passages in the query's language.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..inference import detect_language

Embed = Callable[[Sequence[str]], torch.Tensor]
DEFAULT_MIN_SCORE = 0.72  # below this cosine the knowledge base has nothing relevant ...
INTENT_MATCH_MIN_SCORE = 0.45  # ... unless the passage is written for the recognised intent


@dataclass
class Passage:
    passage_id: str  # "<file stem>#<index>"
    title: str
    text: str
    language: str
    intents: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)

    def keys(self) -> list[str]:
        return [self.title, *self.questions, self.text]


@dataclass
class Retrieval:
    passage: Passage
    score: float


def parse_knowledge_file(path: Path) -> list[Passage]:
    """The passages of one Markdown file, in order."""
    text = re.sub(r"<!--.*?-->", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    passages: list[Passage] = []
    for index, section in enumerate(re.split(r"^## ", text, flags=re.MULTILINE)[1:]):
        title, _, body = section.partition("\n")
        intents: list[str] = []
        questions: list[str] = []
        lines = []
        for line in body.splitlines():
            stripped = line.strip()
            if stripped.lower().startswith("intents:"):
                intents = [i.strip() for i in stripped.split(":", 1)[1].split(",") if i.strip()]
            elif stripped.lower().startswith("questions:"):
                questions = [q.strip() for q in re.split(r"[|｜]", stripped.split(":", 1)[1]) if q.strip()]
            elif stripped:
                lines.append(stripped)
        content = " ".join(lines)
        if content:
            passages.append(Passage(f"{path.stem}#{index}", title.strip(), content, detect_language(content), intents, questions))
    return passages


def load_passages(folder: str | Path) -> list[Passage]:
    """Every passage of every `*.md` file in `folder` (sorted by file name); none if it is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for path in sorted(folder.glob("*.md")) for p in parse_knowledge_file(path)]


class KnowledgeBase:
    """Passages plus their key vectors; `retrieve(query)` finds the passage that answers it."""

    def __init__(self, passages: list[Passage], embed: Embed, *, min_score: float = DEFAULT_MIN_SCORE) -> None:
        self.passages = passages
        self.embed = embed
        self.min_score = min_score
        self._owner: list[int] = []  # key row -> passage index
        keys: list[str] = []
        for index, passage in enumerate(passages):
            for key in passage.keys():
                keys.append(key)
                self._owner.append(index)
        self._vectors = embed(keys) if keys else torch.zeros(0, 1)  # (K, C) L2-normalised
        self._owner_tensor = torch.tensor(self._owner, dtype=torch.long)

    @classmethod
    def load(cls, folder: str | Path, embed: Embed, *, min_score: float = DEFAULT_MIN_SCORE) -> KnowledgeBase:
        return cls(load_passages(folder), embed, min_score=min_score)

    def all_text(self) -> str:
        """Every passage's text: what the grounding check accepts as known facts."""
        return "\n".join(p.text for p in self.passages)

    def rank(self, query: str, *, query_vector: torch.Tensor | None = None) -> list[Retrieval]:
        """Passages in the query's language, best first, each scored by its best-matching key."""
        if not self.passages:
            return []
        vector = query_vector if query_vector is not None else self.embed([query])[0]
        similarities = self._vectors @ vector  # (K,)
        language = detect_language(query)
        best: dict[int, float] = {}
        for row, score in enumerate(similarities.tolist()):
            owner = self._owner[row]
            if self.passages[owner].language == language and score > best.get(owner, -2.0):
                best[owner] = score
        return [Retrieval(self.passages[i], s) for i, s in sorted(best.items(), key=lambda item: -item[1])]

    def retrieve(self, query: str, *, intent: str | None = None, query_vector: torch.Tensor | None = None) -> Retrieval | None:
        """The best passage when its score reaches `min_score` (a lower bar when it lists `intent`), else None."""
        for hit in self.rank(query, query_vector=query_vector):
            if hit.score >= self.min_score:
                return hit
            if intent is not None and intent in hit.passage.intents and hit.score >= INTENT_MATCH_MIN_SCORE:
                return hit
        return None

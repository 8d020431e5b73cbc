"""A confusion-matrix PNG for `kefu eval --report`, drawn with matplotlib's Agg backend (no display)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: servers and CI have no display
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402


def save_confusion_matrix(gold: Sequence[str], predicted: Sequence[str], path: Path) -> Path:
    """Rows are gold intents, columns predictions (row-normalised, so the diagonal is recall)."""
    labels = sorted(set(gold) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)))
    for g, p in zip(gold, predicted):
        counts[index[g], index[p]] += 1
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(40.0, max(5.0, 0.22 * len(labels) + 2))
    figure, axes = plt.subplots(figsize=(side, side))
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6 if len(labels) > 30 else 9)
    axes.set_yticks(range(len(labels)), labels, fontsize=6 if len(labels) > 30 else 9)
    axes.set_xlabel("predicted intent")
    axes.set_ylabel("gold intent")
    axes.set_title(f"Confusion matrix ({len(gold)} examples, row-normalised)")
    figure.colorbar(image, ax=axes, fraction=0.03)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

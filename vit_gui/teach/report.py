"""How well a taught classifier does on the images it did not learn from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Report:
    classes: list[str]
    accuracy: float
    precision: list[float]  # per class; NaN where the class was never predicted
    recall: list[float]  # per class; NaN where the class has no validation image
    confusion: np.ndarray  # (true, predicted) counts
    worst: list[tuple[int, int, int, float]]  # (item index, true, predicted, probability of the true class)

    def to_json(self, matrix: bool = True) -> dict:
        """`matrix=False` gives the confusion matrix as its non-zero cells: for 2,000 classes
        the whole matrix is 4 million counts (36 MB of JSON), its cells at most one per photo
        kept aside."""
        clean = lambda v: None if np.isnan(v) else round(float(v), 4)  # noqa: E731 - JSON has no NaN
        return {
            "validation_accuracy": clean(self.accuracy),
            "per_class": {c: {"precision": clean(p), "recall": clean(r)}
                          for c, p, r in zip(self.classes, self.precision, self.recall)},
            **({"confusion": self.confusion.tolist()} if matrix else {"confusion_cells": self.cells()}),
            "most_confused": [{"true": t, "seen_as": p, "photos": n} for t, p, n in self.most_confused()],
        }

    def cells(self) -> list[dict]:
        """The confusion matrix's non-zero cells, in the matrix's order (row by row)."""
        rows, columns = np.nonzero(self.confusion)
        return [{"true": self.classes[r], "seen_as": self.classes[c], "photos": int(self.confusion[r, c])}
                for r, c in zip(rows, columns)]

    def most_confused(self, limit: int = 10) -> list[tuple[str, str, int]]:
        """(true class, class it was seen as, photos) of the commonest mistakes, most first:
        what a confusion matrix of hundreds of classes cannot show cell by cell."""
        wrong = self.confusion.copy()
        np.fill_diagonal(wrong, 0)
        flat = np.flatnonzero(wrong)
        order = flat[np.argsort(-wrong.ravel()[flat], kind="stable")][:limit]
        rows, columns = np.unravel_index(order, wrong.shape)
        return [(self.classes[r], self.classes[c], int(wrong[r, c])) for r, c in zip(rows, columns)]


def evaluate(classes: list[str], true: np.ndarray, logits: np.ndarray, indices: list[int], worst: int = 6) -> Report:
    """Accuracy, per-class precision and recall, the confusion matrix, and the validation
    images the model got most wrong (lowest probability on their true class)."""
    count = len(classes)
    predicted = logits.argmax(axis=1) if len(logits) else np.zeros(0, int)
    confusion = np.zeros((count, count), int)
    np.add.at(confusion, (true, predicted), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.diag(confusion) / confusion.sum(axis=0)
        recall = np.diag(confusion) / confusion.sum(axis=1)
    accuracy = float((predicted == true).mean()) if len(true) else float("nan")
    shifted = logits - logits.max(axis=1, keepdims=True) if len(logits) else logits
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True) if len(logits) else logits
    true_prob = probs[np.arange(len(true)), true] if len(true) else np.zeros(0)
    order = np.argsort(true_prob)[:worst]
    hardest = [(indices[i], int(true[i]), int(predicted[i]), float(true_prob[i])) for i in order]
    return Report(classes, accuracy, precision.tolist(), recall.tolist(), confusion, hardest)

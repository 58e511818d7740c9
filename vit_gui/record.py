"""One record per image, the same in the window, the CLI and every export.

An `ImageRecord` is where an image came from and what became of it: its top classes and
probabilities, or the error that stopped it, plus notes (EXIF turned, huge image scaled).
The worker fills one in; the session keeps it; the results list shows it; the CLI prints
it as JSON and both write it as CSV. Heavy parts (the display image and the attentions of
a `Prediction`) travel with a record from the worker only as far as the session's cache.
Numpy only: importing this costs the window nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

NO_CLASSES_NOTE = "no classes: this model is a backbone without a classifier yet; it shows where it looks, not what it sees"


@dataclass(frozen=True)
class TopClass:
    label: str
    index: int
    prob: float

    @property
    def short(self) -> str:
        """The first name of a label that lists synonyms ("tabby, tabby cat" -> "tabby")."""
        return self.label.split(",", 1)[0].strip() or self.label

    @property
    def synonyms(self) -> str:
        """The other names ("tabby cat"), or ''."""
        return self.label.split(",", 1)[1].strip() if "," in self.label else ""


def top_classes(probs: np.ndarray, k: int, info) -> list[TopClass]:
    """The k most probable classes of one image's probabilities, best first (ties: lower index
    first), named by `info` (a ModelInfo). Re-ranking kept probabilities uses it too."""
    order = np.argsort(-probs, kind="stable")[: max(1, min(k, probs.shape[-1]))]
    return [TopClass(info.label(int(i)), int(i), float(probs[i])) for i in order]


@dataclass
class ImageRecord:
    """One image. `top` is None until the image has been through the model ([] for a
    backbone, which has no classes); `error` says why it could not be. `runnable` is False
    for items that are never sent to the model (a remote URL)."""

    key: int
    name: str
    source: object  # a path (str) or an in-memory PIL image (pasted, dropped as data)
    top: list[TopClass] | None = None
    probs: np.ndarray | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()
    runnable: bool = True
    maps: dict | None = None  # map files written for it (CLI --maps)
    faithfulness: dict | None = None  # deletion / insertion curves of its map (CLI --faithfulness)
    sanity: dict | None = None  # randomisation and stability tests of its map (CLI --sanity)
    thumbnail_png: bytes | None = None
    # in flight from the worker to the session's cache, never kept here
    display_image: object = field(default=None, repr=False)
    prediction: object = field(default=None, repr=False)

    @property
    def path(self) -> str:
        return self.source if isinstance(self.source, str) else self.name

    @property
    def done(self) -> bool:
        return self.top is not None or self.error is not None

    @property
    def is_backbone_result(self) -> bool:
        return self.top == [] and self.probs is None and self.error is None

    def take(self, prediction, notes: tuple[str, ...] = ()) -> ImageRecord:
        """Fill in the model's answer (a predict.Prediction)."""
        self.top, self.probs, self.error = prediction.top, prediction.probs, None
        self.notes, self.prediction = tuple(notes), prediction
        return self

    def fail(self, message: str) -> ImageRecord:
        self.top, self.probs, self.error, self.prediction = None, None, message, None
        return self

    def reset(self) -> None:
        """Back to waiting (the model changed)."""
        self.top = self.probs = self.error = self.prediction = self.display_image = None

    def rerank(self, k: int, info) -> bool:
        """Recompute top-k from the kept probabilities; False when there are none."""
        if self.probs is None:
            return False
        self.top = top_classes(self.probs, k, info)
        return True

    @property
    def all_notes(self) -> list[str]:
        """The image's notes, and why a backbone's result has no class (JSON and CSV alike)."""
        return list(self.notes) + ([NO_CLASSES_NOTE] if self.is_backbone_result else [])

    def to_json(self) -> dict:
        """The CLI's JSON object for this image."""
        data = {"path": self.path, "top": [{"label": t.label, "index": t.index, "prob": t.prob} for t in self.top or []],
                "error": self.error, "notes": self.all_notes}
        if self.maps is not None:
            data["maps"] = self.maps
        if self.faithfulness is not None:
            data["faithfulness"] = self.faithfulness
        if self.sanity is not None:
            data["sanity"] = self.sanity
        return data


def json_text(value, indent: int | None = None) -> str:
    """`value` as JSON text that any UTF-8 stream takes: a file name that is not UTF-8 (its
    odd bytes held as lone surrogates, as Python reads such names) is written with JSON's
    \\uDCxx escapes, which read back as the same name, instead of failing the whole write.
    NaN and infinity become null (json_safe)."""
    text = json.dumps(json_safe(value), indent=indent, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_safe(value):
    """JSON has no NaN or infinity: such a number becomes null (a figure that could not be
    computed), so one bad figure never costs a whole results file its other results."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value

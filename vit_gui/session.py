"""The images of one window and what is known about them, without Qt.

A `Session` keeps one `ImageRecord` per image, the heavy parts needed to redraw maps
instantly (display image and attentions) in a memory-bounded LRU cache, and the model the
results came from, so top-k re-ranking, cancelling, clearing and exports are plain method
calls. The main window composes widgets around one; a second window (the teach window)
can share it.
"""

from __future__ import annotations

from collections import OrderedDict

from vit_gui.record import ImageRecord

CACHE_BUDGET_BYTES = 768 * 1024 * 1024  # attentions + display images kept for instant switching
CANCELLED = "not classified: the batch was cancelled"


class Session:
    def __init__(self, cache_budget: int | None = None):
        self.records: dict[int, ImageRecord] = {}
        self.cache_budget = CACHE_BUDGET_BYTES if cache_budget is None else cache_budget
        self.cache_bytes = 0
        self._cache: OrderedDict[int, tuple[object, object, int]] = OrderedDict()
        self._next_key = 1
        self.info = None  # ModelInfo of the loaded model: names classes when re-ranking
        self.shown: int | None = None  # the record on screen: never evicted

    # ---- records ---------------------------------------------------------------------------
    def add(self, name: str, source, error: str | None = None) -> ImageRecord:
        """A new image, waiting; with an `error` it is never run (e.g. a remote URL)."""
        record = ImageRecord(self._next_key, name, source, error=error, runnable=error is None)
        self.records[record.key] = record
        self._next_key += 1
        return record

    def runnable(self, keys) -> list[tuple[int, object]]:
        """(key, source) of the records that can go to the model."""
        return [(k, self.records[k].source) for k in keys if k in self.records and self.records[k].runnable]

    def accept(self, result: ImageRecord) -> ImageRecord | None:
        """A record back from the worker: its light fields are kept, its heavy parts cached.
        None when the image was cleared meanwhile."""
        record = self.records.get(result.key)
        if record is None:
            return None
        record.top, record.probs, record.error, record.notes = result.top, result.probs, result.error, result.notes
        record.thumbnail_png = result.thumbnail_png or record.thumbnail_png
        if result.prediction is not None:
            self._cache_put(result.key, result.display_image, result.prediction)
        return record

    def rerank(self, k: int) -> list[ImageRecord]:
        """Every record with kept probabilities, re-ranked to top-k (no model run)."""
        return [r for r in self.records.values() if r.rerank(k, self.info)]

    def cancel_waiting(self) -> list[ImageRecord]:
        """Records still waiting when a batch was cancelled say so."""
        return [r.fail(CANCELLED) for r in self.records.values() if r.runnable and not r.done]

    def forget_results(self) -> list[ImageRecord]:
        """The model changed: every runnable record waits again; returns them."""
        self._cache.clear()
        self.cache_bytes = 0
        waiting = [r for r in self.records.values() if r.runnable]
        for record in waiting:
            record.reset()
        return waiting

    def clear(self) -> None:
        self.records.clear()
        self._cache.clear()
        self.cache_bytes = 0
        self.shown = None

    def counts(self) -> tuple[int, int]:
        """(classified, failed)."""
        failed = sum(1 for r in self.records.values() if r.error)
        return len(self.records) - failed, failed

    # ---- the heavy parts -------------------------------------------------------------------
    def is_kept(self, key: int) -> bool:
        return key in self._cache

    def view(self, key: int):
        """(display image, prediction with attentions) of a record, or None when not kept."""
        if key not in self._cache:
            return None
        self._cache.move_to_end(key)
        display_image, prediction, _ = self._cache[key]
        return display_image, prediction

    def _cache_put(self, key: int, display_image, prediction) -> None:
        attentions = prediction.attentions
        size = attentions.numel() * attentions.element_size() if attentions is not None else 0
        size += display_image.width * display_image.height * 3 if display_image is not None else 0
        if key in self._cache:
            self.cache_bytes -= self._cache.pop(key)[2]
        self._cache[key] = (display_image, prediction, size)
        self.cache_bytes += size
        for old_key in list(self._cache):
            if self.cache_bytes <= self.cache_budget or len(self._cache) == 1:
                break
            if old_key not in (self.shown, key):
                self.cache_bytes -= self._cache.pop(old_key)[2]

"""The inference worker: a QObject living on its own QThread.

All model loading and inference happen here, so the window never freezes. Requests
arrive as queued signal calls (executed one after another, in order); results leave as
signals that Qt delivers to `@Slot` methods on the GUI thread. Cancelling is a plain
thread-safe flag the GUI sets directly, checked between images, so a batch stops within
one image.
"""

from __future__ import annotations

import io
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from vit_gui.freed_memory import release_freed_memory
from vit_gui.record import ImageRecord

DISPLAY_MAX_SIDE = 1600  # the overlay view never needs more pixels than this
THUMB_SIDE = 72
GROUP_MAX = 8  # images per model run in the window
GROUP_BUDGET_BYTES = 256 * 1024 * 1024  # kept attentions per group, at most


def downsized(image, side):
    copy = image.copy()
    copy.thumbnail((side, side))
    return copy


def _thumbnail_png(image) -> bytes:
    buffer = io.BytesIO()
    downsized(image, THUMB_SIDE).save(buffer, format="PNG", compress_level=1)  # 72 px: size hardly matters
    return buffer.getvalue()


def photos_per_run(info, most: int = GROUP_MAX) -> int:
    """Images per model run: up to `most`, fewer when each image's kept attentions are large
    (a ViT-B at 384 px keeps ~190 MB per image, a DINOv2 at 518 px ~540 MB)."""
    arch, (height, width) = info.architecture, info.preprocessing.input_size
    tokens = (height // arch.patch_size) * (width // arch.patch_size) + arch.num_prefix_tokens
    per_image = arch.depth * arch.num_heads * tokens * tokens * 4
    return max(1, min(most, GROUP_BUDGET_BYTES // max(per_image, 1)))


def _finish(record: ImageRecord, loaded, prediction) -> ImageRecord:
    """A classified image's record: its thumbnail, its display-sized image, its prediction.
    The thumbnail is made from the display image: one pass over a large photo, not two."""
    record.display_image = downsized(loaded.image, DISPLAY_MAX_SIDE)
    record.thumbnail_png = _thumbnail_png(record.display_image)
    return record.take(prediction, loaded.notes)


class InferenceWorker(QObject):
    model_loaded = Signal(object, object)  # ModelInfo, Precision
    model_failed = Signal(str, str)  # path, message
    result_ready = Signal(int, object)  # batch id, ImageRecord (with its display image and prediction)
    batch_progress = Signal(int, int, int)  # batch id, done, total
    batch_finished = Signal(int, bool)  # batch id, cancelled
    attentions_ready = Signal(object)  # ImageRecord (re-run for an item whose maps were evicted)
    gradient_map_ready = Signal(int, object, object, str)  # key, MapSpec, map or None, error
    check_ready = Signal(int, object, str)  # key, check_words.CheckResult or None, error
    compare_ready = Signal(int, object, str)  # key, [explain.compare.MethodScore] or None, error
    check_progress = Signal(str, int)  # what the check is doing and the time left, in words; share done (per mille)
    cuda_status = Signal(str)  # why CUDA cannot be used, or "" when it can

    def __init__(self):
        super().__init__()
        self.predictor = None
        self.load_error = "no model is loaded yet"
        self._cancel_upto = 0  # every batch with an id <= this is cancelled
        self._lock = threading.Lock()
        self._check_cancelled = threading.Event()

    # ---- called directly from the GUI thread ---------------------------------------------

    def cancel_upto(self, batch_id: int) -> None:
        """Cancel every batch with an id up to `batch_id` (thread-safe, takes effect between images)."""
        with self._lock:
            self._cancel_upto = max(self._cancel_upto, batch_id)

    def _is_cancelled(self, batch_id: int) -> bool:
        with self._lock:
            return batch_id <= self._cancel_upto

    # ---- queued requests -----------------------------------------------------------------

    @Slot()
    def probe_devices(self) -> None:
        """Importing torch takes a while: done here, never on the GUI thread."""
        from vit_gui.predict import cuda_unavailable_reason

        self.cuda_status.emit(cuda_unavailable_reason() or "")

    @Slot(str, str, str)
    def load_model(self, path: str, device: str, precision: str = "") -> None:
        """`precision` "" is the model's own (its sidecar's, else float32)."""
        from vit_gui.errors import VitGuiError
        from vit_gui.predict import Predictor

        try:
            predictor = Predictor.from_file(path, device, precision or None, engine="auto")
            self._warm_up(predictor)  # a model that loads but cannot run fails here, not on the first photo
        except VitGuiError as exc:
            self._load_failed(path, str(exc))
            return
        except MemoryError:
            self._load_failed(path, "not enough memory to load this model")
            return
        except ValueError as exc:  # a precision this device cannot run
            self._load_failed(path, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a worker must survive anything a file can do
            self._load_failed(path, f"unexpected error loading the model ({type(exc).__name__}: {exc})")
            return
        self.predictor, self.load_error = predictor, ""
        self.model_loaded.emit(predictor.info, predictor.precision)

    @staticmethod
    def _warm_up(predictor) -> None:
        """Run one tiny image through everything a batch uses, here and now.

        First calls pay for lazy imports (image plugins, matplotlib) and kernel set-up,
        holding the GIL for a few hundred milliseconds: paid at load time, not while the
        user watches the first result arrive (and never stalling the window mid-batch).
        """
        from PIL import Image

        from vit_gui.explain.overlay import colorize
        from vit_gui.images import load_image  # noqa: F401 - imported for its side effects

        prediction = predictor.predict([Image.new("RGB", (48, 40), (128, 96, 64))], with_attentions=True)[0]
        colorize(prediction.map())

    @Slot(int, object, int)
    def run_batch(self, batch_id: int, items: list, top_k: int) -> None:
        """Classify (key, source) items a group at a time (one model run each: batch
        throughput), streaming a result per image; Cancel acts between groups."""
        total, done = len(items), 0
        cancelled = False
        size = self._group_size()
        try:
            for start in range(0, total, size):
                if self._is_cancelled(batch_id):
                    cancelled = True
                    break
                group = items[start : start + size]
                try:
                    records = self._classify_group(group, top_k)
                except Exception as exc:  # noqa: BLE001 - a bug must cost its group, never the batch
                    traceback.print_exc()
                    records = [ImageRecord(key, "", source).fail(f"unexpected error ({type(exc).__name__}: {exc})")
                               for key, source in group]
                for record in records:
                    self.result_ready.emit(batch_id, record)
                    done += 1
                    self.batch_progress.emit(batch_id, done, total)
                release_freed_memory()
        finally:  # the window waits for this: it must come whatever happened
            if self.predictor is not None:  # reused from group to group; an idle window keeps none of it
                from vit_gui.model.buffer_pool import ATTENTIONS

                ATTENTIONS.clear()
            self.batch_finished.emit(batch_id, cancelled)

    def _group_size(self) -> int:
        return 1 if self.predictor is None else photos_per_run(self.predictor.info)

    def _classify_group(self, items: list, top_k: int) -> list[ImageRecord]:
        """One model run for the images that load; an image that cannot be read fails alone,
        and a group the model fails on is retried image by image, so one bad image never
        costs the others their result."""
        from vit_gui.errors import VitGuiError

        if self.predictor is None or len(items) == 1:
            return [self._classify(key, source, top_k) for key, source in items]
        records, loaded = [], []
        for key, source in items:
            record = ImageRecord(key, "", source)
            records.append(record)
            try:
                loaded.append((record, self._load(source)))
            except VitGuiError as exc:
                record.fail(str(exc))
            except MemoryError:
                record.fail("not enough memory to decode this image (MemoryError)")
            except Exception as exc:  # noqa: BLE001 - one bad item must not stop its group
                traceback.print_exc()
                record.fail(f"unexpected error: {exc}")
        if not loaded:
            return records
        try:
            predictions = self.predictor.predict([image.image for _, image in loaded], top_k, with_attentions=True)
        except Exception:  # noqa: BLE001 - find the image that fails, keep the others' results
            by_key = {r.key: r for r in (self._classify(record.key, record.source, top_k) for record, _ in loaded)}
            return [by_key.get(record.key, record) for record in records]
        for (record, image), prediction in zip(loaded, predictions):
            if prediction.attentions is not None and len(predictions) > 1:
                # its own copy: a view would keep the whole group's attentions alive in the
                # session's cache until every image of the group had been evicted
                prediction.attentions = prediction.attentions.clone()
            _finish(record, image, prediction)
        return records

    @Slot(int, object, int)
    def compute_attentions(self, key: int, source, top_k: int) -> None:
        self.attentions_ready.emit(self._classify(key, source, top_k))

    def cancel_check(self) -> None:
        """Stop a running faithfulness check (thread-safe; acts between forward batches)."""
        self._check_cancelled.set()

    def arm_check(self) -> None:
        """Called from the GUI thread before a check is queued, so a Cancel that arrives before
        the worker starts it is not forgotten."""
        self._check_cancelled.clear()

    @Slot(int, object, object, object, str, str)
    def run_check(self, key: int, source, spec, grid_map, protocol: str, label: str) -> None:
        """The shown map's check (against the map's moved copies, SaCo), then its sanity and
        stability tests, and the check's picture."""
        from vit_gui.errors import VitGuiError
        from vit_gui.explain.check_progress import CheckProgress
        from vit_gui.explain.check_words import CheckResult, draw_check
        from vit_gui.explain.faithfulness import Judge
        from vit_gui.explain.trust import test_map
        from vit_gui.figures import figure_png

        try:
            image = self._load(source).image
            explained = spec.class_index if spec.method.needs_gradients else None
            progress = CheckProgress(1, self.check_progress.emit)
            progress.start_map(0)
            result = Judge(self.predictor, image, protocol, explained, cancelled=self._check_cancelled.is_set).judge(
                grid_map, progress=progress.copies_done)
            progress.copies_finished(result.compared)
            try:
                randomisation, stability = test_map(self.predictor, image, spec,
                                                    cancelled=self._check_cancelled.is_set)
            except VitGuiError:
                if not self._check_cancelled.is_set():
                    raise
                randomisation = stability = None  # cancelled during them: the finished check still shows
            progress.finished()
            png = figure_png(lambda figure: draw_check(figure, result, label), size=(6.4, 3.4))
            self.check_ready.emit(key, CheckResult(spec, result, randomisation, stability, png, label), "")
        except Exception as exc:  # noqa: BLE001 - the window says why, the app lives on
            self.check_ready.emit(key, None, str(exc) or type(exc).__name__)

    @Slot(int, object, int, str)
    def run_compare(self, key: int, source, class_index: int, protocol: str) -> None:
        """Every kind of map on this photo, best first (class_index -1: the top class)."""
        from vit_gui.explain.compare import compare_maps

        try:
            image = self._load(source).image
            scores = compare_maps(self.predictor, image, protocol, None if class_index < 0 else class_index,
                                  cancelled=self._check_cancelled.is_set, report=self.check_progress.emit)
            self.compare_ready.emit(key, scores, "")
        except Exception as exc:  # noqa: BLE001
            self.compare_ready.emit(key, None, str(exc) or type(exc).__name__)

    @Slot(int, object, object)
    def compute_gradient_map(self, key: int, source, spec) -> None:
        try:
            image = self._load(source).image
            grid_map, _ = self.predictor.gradient_map(image, spec)
            self.gradient_map_ready.emit(key, spec, grid_map, "")
        except Exception as exc:  # noqa: BLE001
            self.gradient_map_ready.emit(key, spec, None, str(exc))

    # ---- helpers -------------------------------------------------------------------------
    def _load_failed(self, path: str, message: str) -> None:
        """The previous model (if any) stays loaded; without one, items say why."""
        if self.predictor is None:
            self.load_error = message
        self.model_failed.emit(path, message)


    @staticmethod
    def _load(source):
        from vit_gui.images import LoadedImage, load_image

        if isinstance(source, (str, Path)):
            return load_image(source)
        return LoadedImage(source, None, ())

    def _classify(self, key: int, source, top_k: int) -> ImageRecord:
        from vit_gui.errors import VitGuiError

        record = ImageRecord(key, "", source)
        if self.predictor is None:
            return record.fail(f"not classified: {self.load_error}")
        try:
            loaded = self._load(source)
            prediction = self.predictor.predict([loaded.image], top_k, with_attentions=True)[0]
            return _finish(record, loaded, prediction)
        except VitGuiError as exc:
            return record.fail(str(exc))
        except MemoryError:
            return record.fail("not enough memory to process this image (MemoryError)")
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
            traceback.print_exc()
            return record.fail(f"unexpected error: {exc}")

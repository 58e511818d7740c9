"""The Compare window's worker: two models on a thread of their own, so the window stays
responsive while both load and run, and Cancel is heard between batches.

A folder's agreement rows come from the same code as `vit-gui compare` (cli.compare.
compare_batch), so the window and the command give the same numbers; only those rows leave
a batch, never its attentions. One photo's two predictions, with attentions for its maps,
are made on request (`show`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from vit_gui.freed_memory import release_freed_memory

SIDES = ("a", "b")


def _why(exc: BaseException) -> str:
    """A message for the user: a VitGuiError's or ValueError's own words, else the kind too."""
    from vit_gui.errors import VitGuiError

    if isinstance(exc, MemoryError):
        return "not enough memory (MemoryError)"
    if isinstance(exc, (VitGuiError, ValueError)) and str(exc):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}: {exc})"


class CompareWorker(QObject):
    loaded = Signal(object, object)  # ModelInfo of A, ModelInfo of B
    load_failed = Signal(str)  # which model failed and why
    compared = Signal(object)  # [explain.agreement.PhotoAgreement] of one batch, paths as given
    progress = Signal(int, int)  # photos done, photos in all
    finished = Signal(bool)  # cancelled
    shown = Signal(str, object, object, object)  # path, display image (PIL), Prediction of A, of B
    show_failed = Signal(str, str)  # path, error
    gradient_map_ready = Signal(str, str, object, object, str)  # path, side, MapSpec, map or None, error

    def __init__(self):
        super().__init__()
        self.models: dict[str, object] = {}  # side -> Predictor, both or none
        self._cancel = threading.Event()
        self._job: dict | None = None  # the run under way: its paths, map kind, photos done, batch size

    # ---- called directly from the GUI thread ---------------------------------------------

    def cancel(self) -> None:
        """Thread-safe: a run stops before its next batch."""
        self._cancel.set()

    def rearm(self) -> None:
        """Before a run is asked for, from the GUI thread: a Cancel pressed after that (even
        before the run starts, while the models load) is kept, not cleared by the run."""
        self._cancel.clear()

    # ---- queued requests -----------------------------------------------------------------

    @Slot(str, str, str, str)
    def load(self, path_a: str, path_b: str, device: str, precision_b: str = "float32") -> None:
        """Both models, in float32 as `vit-gui compare` loads them (an automatic precision
        would let int8 on one side pass for a disagreement between the models), unless B is
        asked in another format on purpose (a model against its own int8 or bfloat16). The
        pair already loaded stays unless both new ones load."""
        from vit_gui.predict import Predictor

        models = {}
        for side, path, precision in zip(SIDES, (path_a, path_b), ("float32", precision_b or "float32")):
            try:
                models[side] = Predictor.from_file(path, device, precision)
            except Exception as exc:  # noqa: BLE001 - a model file must never end the thread
                self.load_failed.emit(f"model {side.upper()} ({path}) could not be loaded: {_why(exc)}")
                return
        self.models = models
        self.loaded.emit(models["a"].info, models["b"].info)

    @Slot(object, str)
    def run(self, paths: list, kind: str = "rollout") -> None:
        """`paths`: photos or folders (walked here). Agreement rows a batch at a time (at most cli.compare.BATCH photos, fewer where their
        attentions are large; one model run each); a batch the models fail on gives each of
        its photos a row with the error. `kind`: the maps compared, "rollout" or "class" (each
        model's evidence for its own top class). One batch per turn of this thread's event
        loop: a photo the user opens meanwhile (`show`, `gradient_map`) is answered between
        two batches, not after the whole folder."""
        from vit_gui.cli.compare import BATCH
        from vit_gui.explain.agreement import PhotoAgreement
        from vit_gui.gui.worker import photos_per_run
        from vit_gui.images import find_images

        # folders are walked here, not on the GUI thread (a network folder of 100,000 photos
        # takes seconds); what a folder holds that cannot be read is listed with its reason
        skipped: list = []
        found = []
        for path in paths:  # files as given (in their order), folders walked
            found += [str(p) for p in find_images([Path(path)], skipped=skipped)] if Path(path).is_dir() else [path]
        if skipped:
            self.compared.emit([PhotoAgreement(str(path), None, None, None, None, None, 0.0, str(reason))
                                for path, reason in skipped])
        # a batch keeps one model's attentions of every photo in it: 8 DINOv2 photos at 518 px held 4 GB
        size = min(photos_per_run(m.info, BATCH) for m in self.models.values()) if self.models else BATCH
        self._job = {"paths": found, "kind": kind, "done": 0, "size": size}
        QTimer.singleShot(0, self, self._next_batch)

    @Slot()
    def _next_batch(self) -> None:
        from vit_gui.cli.compare import compare_batch
        from vit_gui.explain.agreement import PhotoAgreement

        job = self._job
        if job is None:
            return
        paths, total = job["paths"], len(job["paths"])
        if self._cancel.is_set() or job["done"] >= total:
            self._job = None
            from vit_gui.model.buffer_pool import ATTENTIONS

            ATTENTIONS.clear()  # reused from batch to batch; an idle window keeps none of it
            self.finished.emit(job["done"] < total)  # the window waits for this, whatever happened
            return
        batch = paths[job["done"]:job["done"] + job["size"]]
        try:
            rows = compare_batch(*self._pair(), batch, job["kind"])
        except Exception as exc:  # noqa: BLE001 - the batch says why, the run goes on
            rows = [PhotoAgreement(str(p), None, None, None, None, None, 0.0, _why(exc)) for p in batch]
        job["done"] += len(batch)
        self.compared.emit(rows)
        self.progress.emit(job["done"], total)
        release_freed_memory()
        QTimer.singleShot(0, self, self._next_batch)

    @Slot(str)
    def show(self, path: str) -> None:
        """Both models' top 5 with attentions (any attention map can be drawn from them), and
        the photo at display size."""
        from vit_gui.gui.worker import DISPLAY_MAX_SIDE, downsized
        from vit_gui.images import load_image

        try:
            model_a, model_b = self._pair()
            image = load_image(path).image
            prediction_a, prediction_b = (m.predict([image], 5, with_attentions=True)[0] for m in (model_a, model_b))
            self.shown.emit(path, downsized(image, DISPLAY_MAX_SIDE), prediction_a, prediction_b)
        except Exception as exc:  # noqa: BLE001
            self.show_failed.emit(path, _why(exc))

    @Slot(str, str, object)
    def gradient_map(self, path: str, side: str, spec) -> None:
        """One side's map that needs gradients (class evidence, Grad-CAM, LeGrad) on the photo."""
        from vit_gui.images import load_image

        try:
            if side not in SIDES:
                raise ValueError(f"side must be 'a' or 'b', got {side!r}")
            predictor = dict(zip(SIDES, self._pair()))[side]
            grid_map, _ = predictor.gradient_map(load_image(path).image, spec)
            self.gradient_map_ready.emit(path, side, spec, grid_map, "")
        except Exception as exc:  # noqa: BLE001
            self.gradient_map_ready.emit(path, side, spec, None, _why(exc))

    # ---- helpers -------------------------------------------------------------------------

    def _pair(self) -> tuple:
        if not self.models:
            raise ValueError("no models are loaded yet")
        return self.models["a"], self.models["b"]

"""The Teach window's worker: teaching, its pictures, and the hardest photos' maps, on its
own thread, so that the window never waits on a drawing (for 2 classes or 2,000) and no
temporary model file is left behind."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot


class TeachWorker(QObject):
    """Runs on its own thread: teaching, its pictures, then the evidence maps of the hardest
    images, drawn by the taught model held in memory."""

    progress = Signal(str, int, int)  # stage, done, total
    trial = Signal(object, bytes)  # one weight decay's (or epoch's) figures, and the plot of all so far
    finished = Signal(object, str)  # TeachResult or None, error

    def __init__(self):
        super().__init__()
        self._cancel = threading.Event()
        self.trials: list[dict] = []

    def cancel(self) -> None:
        self._cancel.set()

    def _on_trial(self, row: dict) -> None:
        from vit_gui.teach.figures import trials_png

        self.trials.append(row)
        self.trial.emit(row, trials_png(self.trials))

    @Slot(object, str, str, float, str)
    def run(self, folders, base_path: str, device: str, val_split: float, how: str) -> None:
        """`how` is "mode/feature", e.g. "probe/cls" or "finetune/cls+mean"."""
        from vit_gui.predict import Predictor
        from vit_gui.teach.figures import confusion_png
        from vit_gui.teach.run import teach
        from vit_gui.teach.save import taught_model, taught_sidecar

        self._cancel.clear()
        self.trials = []
        mode, feature = how.split("/")
        try:
            predictor = Predictor.from_file(base_path, device)
            taught = teach(folders, predictor, Path(base_path), val_split, 0, progress=self.progress.emit,
                           cancelled=self._cancel.is_set, on_trial=self._on_trial, mode=mode, feature=feature)
            self.progress.emit("drawing the report", 0, 1)
            sidecar = taught_sidecar(Path(base_path), predictor.info, taught.digest, taught.dataset.classes,
                                     taught.facts, f"{predictor.info.name} + the classes being taught (not saved yet)")
            model = Predictor(taught_model(Path(base_path), predictor.info, taught.probe, sidecar,
                                           taught.tuned_state), device)
            maps = self._hardest_maps(model, taught)
            self.finished.emit(TeachResult(taught, predictor.info, maps, confusion_png(taught.report), model), "")
        except Exception as exc:  # noqa: BLE001 - the window says what went wrong, the app lives on
            self.finished.emit(None, str(exc) or type(exc).__name__)

    def _hardest_maps(self, model, taught) -> list:
        """(overlay image, caption) of each hardest validation image: the evidence for the
        class the model chose, drawn by the taught model itself."""
        from vit_gui.explain.overlay import overlay
        from vit_gui.images import load_image

        pictures = []
        for item in taught.worst_items():
            if self._cancel.is_set():
                break
            image = load_image(item["path"]).image
            image.thumbnail((220, 220))
            chosen = taught.dataset.classes.index(item["predicted"])
            grid_map, geometry = model.class_map(image, chosen)
            caption = (f"{Path(item['path']).name}\nis {item['true']}, seen as {item['predicted']} "
                       f"({item['true_probability']:.0%} on {item['true']})")
            pictures.append((overlay(image, grid_map, geometry, opacity=0.55), caption))
        return pictures


@dataclass
class TeachResult:
    taught: object  # teach.run.Taught
    base_info: object  # the base model's ModelInfo, for saving
    maps: list  # (overlay, caption) of the hardest photos
    confusion_png: bytes
    model: object = None  # the taught model in memory (a Predictor), for the shortcut check before saving

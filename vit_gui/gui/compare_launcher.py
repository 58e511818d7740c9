"""Model > "Compare with another model…": a part of the main window by composition. It asks
which model to set beside the loaded one (any the app lists, or a file), and opens a
side-by-side window on the photos in the list (or a folder chosen, when the list is empty)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QInputDialog

from vit_gui.gui.plain import warn
from vit_gui.gui.window_models import MODEL_FILES

ANOTHER_FILE = "Another model file…"
OWN_FORMATS = {"int8": "in int8 (smaller and faster on a CPU; does it see the same?)",
               "bfloat16": "in bfloat16 (faster where the CPU has it; does it see the same?)"}


class Comparing(QObject):
    def __init__(self, window, models, device: Callable[[], str], photo_paths: Callable[[], list[str]],
                 status: Callable[[str], None], look: Callable[[], dict] = dict):
        """`look()`: the main window's map look (colours, opacity, fusion…), which the side-by-side opens with."""
        super().__init__(window)
        self.look = look
        self.window, self.models, self.device, self.photo_paths, self.status = (window, models, device,
                                                                                photo_paths, status)
        self.windows: list = []  # the compare windows open now

    def candidates(self) -> list[tuple[str, str]]:
        """(name, path) of every usable model the app lists, the loaded one left out."""
        from vit_gui.model.catalog import discover_models

        settings = self.models.settings
        added = [Path(p) for p in settings.paths("added_models") + settings.paths("compared_models")]
        return [(entry.name, str(entry.path)) for entry in discover_models(added)
                if not entry.problem and str(entry.path) != self.models.loaded]

    @Slot()
    def choose_model(self) -> None:
        if self.models.loaded is None:
            warn(self.window, "No model loaded", "Load a model first: it is compared with the one you choose.")
            return
        listed = [(f"{name}  ({Path(path).name})", path, "float32") for name, path in self.candidates()]
        listed += [(f"The same model {words}", self.models.loaded, number_format)
                   for number_format, words in OWN_FORMATS.items()]
        names = [words for words, _, _ in listed] + [ANOTHER_FILE]
        choice, ok = QInputDialog.getItem(self.window, "Compare with another model",
                                          f"Compare {self.models.info.name} with:", names, 0, False)
        if not ok:
            return
        number_format = "float32"
        if choice == ANOTHER_FILE:
            path, _ = QFileDialog.getOpenFileName(self.window, "A model to compare with",
                                                  self.models.settings.text("last_model_dir"),
                                                  MODEL_FILES)
            if not path:
                return
        else:
            _, path, number_format = listed[names.index(choice)]
        photos = self.photo_paths()
        if not photos:
            folder = QFileDialog.getExistingDirectory(self.window, "Photos to compare the two models on")
            if not folder:
                return
            photos = [folder]
        self.open(path, photos, number_format)

    def open(self, other: str, photos: list[str], number_format: str = "float32"):
        """A compare window: the loaded model (A, float32) beside `other` (B, in
        `number_format`) on `photos` (files or folders), started at once; returns it."""
        from vit_gui.gui.compare_window import CompareWindow

        if other != self.models.loaded:
            self.models.settings.add_recent("compared_models", other)  # offered again next time
        window = CompareWindow(self.models.loaded, other, self.device(), photos, parent=self.window, look=self.look(),
                               precision_b=number_format)
        window.destroyed.connect(lambda _=None, w=window: self.windows.remove(w) if w in self.windows else None)
        self.windows.append(window)
        window.show()
        window.start()
        self.status(f"comparing {self.models.info.name} with {Path(other).name}")
        return window

    def close(self) -> None:
        for window in list(self.windows):
            window.close()

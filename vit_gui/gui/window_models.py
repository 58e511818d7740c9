"""The main window's models: the list, loading one on a device in a number format, adding
a file, downloading, teaching, and the second model to compare with. A part of the main
window by composition; the model itself is loaded by the worker, off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from vit_gui.gui.plain import esc

MODEL_FILES = "Model files (*.safetensors *.pth *.pt *.bin);;All files (*)"  # what a model file dialog lists
TOP_K_TIP = "how many of the model's most likely classes to list under each photo (changing it needs no new run)"


class WindowModels(QObject):
    def __init__(self, window, settings, model_panel, batches, send_load: Callable[[str, str, str], None],
                 status: Callable[[str], None], show_photos: Callable):
        """`send_load(path, device, precision)` asks the worker; `show_photos(paths)` lists
        photos a Teach window points at."""
        super().__init__(window)
        self.window, self.settings, self.panel, self.batches = window, settings, model_panel, batches
        self.send_load, self.status, self.show_photos = send_load, status, show_photos
        self.loaded: str | None = None  # path of the model the worker has
        self.loading: str | None = None
        self.info = None  # the loaded model's ModelInfo
        self.unusable: set[str] = set()  # listed with the reason they cannot be read, never loaded unasked
        self.rerun_after_load = False
        self.teach_window = None
        model_panel.model_chosen.connect(self.on_model_chosen)
        model_panel.device_chosen.connect(self.on_device_chosen)
        model_panel.precision_chosen.connect(self.on_precision_chosen)
        model_panel.add_model_requested.connect(self.add_model_dialog)
        model_panel.get_models_requested.connect(self.get_models_dialog)

    def label(self, class_index: int) -> str:
        return self.info.label(class_index) if self.info else str(class_index)

    def refresh(self) -> None:
        from vit_gui.model.catalog import discover_models

        added = [Path(p) for p in self.settings.paths("added_models")]
        current = self.loading or self.loaded or self.settings.text("model") or None
        entries = discover_models(added)
        self.unusable = {str(e.path) for e in entries if e.problem}
        self.panel.set_models(entries, current)

    def load(self, path: str, device: str | None = None) -> None:
        device = device or self.panel.current_device()
        if self.batches.running:
            self.batches.cancel()
            self.rerun_after_load = True
        if self.loaded is not None:
            self.rerun_after_load = True
        self.loading = path
        self.panel.show_loading(path, device)
        self.status("loading model…")
        self.send_load(path, device, self.panel.current_precision())

    def took(self, info) -> None:
        """The worker loaded `info`: it is the model now."""
        self.loaded, self.loading, self.info = str(info.path), None, info
        self.settings.set("model", self.loaded)

    @Slot(str, str)
    def on_failed(self, path: str, message: str) -> None:
        self.loading = None
        keep = f" The previous model ({Path(self.loaded).name}) stays loaded." if self.loaded else ""
        self.panel.show_message(f"Could not load <b>{esc(Path(path).name)}</b>: {esc(message)}.{esc(keep)}",
                                error=True)
        if self.loaded:
            self.panel.select_model(self.loaded)
        self.rerun_after_load = False
        self.status(f"could not load {Path(path).name}")

    @Slot(str)
    def on_model_chosen(self, path: str) -> None:
        if path != self.loaded or self.loading:
            self.load(path)

    @Slot(str)
    def on_device_chosen(self, device: str) -> None:
        self.settings.set("device", device)
        path = self.loading or self.loaded or self.panel.current_model()
        if path:
            self.load(path, device)

    @Slot(str)
    def on_precision_chosen(self, precision: str) -> None:
        self.settings.set("precision", precision)
        path = self.loading or self.loaded or self.panel.current_model()
        if path:
            self.load(path)

    @Slot()
    def add_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Add a model file", self.settings.text("last_model_dir"),
                                              MODEL_FILES)
        if path:
            self.add_file(path)
        elif self.loaded:
            self.panel.select_model(self.loaded)

    def add_file(self, path: str) -> None:
        """Remember a model file the user picked, list it, and load it."""
        self.settings.set("last_model_dir", str(Path(path).parent))
        self.settings.add_recent("added_models", path)
        self.refresh()
        self.panel.select_model(path)
        self.load(path)

    @Slot()
    def get_models_dialog(self) -> None:
        from vit_gui.gui.get_models import GetModelsDialog

        dialog = GetModelsDialog(self.window)
        dialog.model_installed.connect(self.on_model_installed)
        dialog.exec()

    @Slot()
    def teach_dialog(self) -> None:
        """The Teach window, on the model loaded now (its classes are taught on top of it)."""
        from vit_gui.gui.teach_window import TeachWindow

        if self.teach_window is not None:
            if self.teach_window.isVisible() and self.teach_window.base_path == self.loaded:
                self.teach_window.raise_()  # the one open, with its work: not a second one beside it
                self.teach_window.activateWindow()
                return
            self.teach_window.done(0)  # a window on another model: its thread stops before it goes
        self.teach_window = TeachWindow(self.loaded, self.panel.current_device(), self.window)
        self.teach_window.model_saved.connect(self.on_model_taught)
        self.teach_window.show_photos.connect(self.show_photos)
        self.teach_window.show()

    @Slot(str)
    def on_model_taught(self, path: str) -> None:
        self.refresh()
        self.panel.select_model(path)
        self.load(path)

    @Slot(str)
    def on_model_installed(self, path: str) -> None:
        self.refresh()
        if self.loaded is None:
            self.panel.select_model(path)
            self.load(path)

    def close(self) -> None:
        if self.teach_window is not None:
            self.teach_window.done(0)  # stops its thread too

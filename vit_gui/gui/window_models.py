"""The main window's models: the list, loading one on a device in a number format, adding
a file, downloading, teaching. A part of MainWindow (mixed in), kept apart by concern; the
model itself is loaded by the worker, off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFileDialog

TOP_K_TIP = "how many of the model's most likely classes to list under each photo (changing it needs no new run)"


class ModelsMixin:
    def refresh_models(self) -> None:
        from vit_gui.model.catalog import discover_models

        added = [Path(p) for p in self.settings.paths("added_models")]
        current = self.loading_model or self.loaded_model or self.settings.text("model") or None
        entries = discover_models(added)
        self.unusable_models = {str(e.path) for e in entries if e.problem}
        self.model_panel.set_models(entries, current)

    def load_model(self, path: str, device: str | None = None) -> None:
        device = device or self.model_panel.current_device()
        if self.running:
            self.cancel_batches()
            self.rerun_after_load = True
        if self.loaded_model is not None:
            self.rerun_after_load = True
        self.loading_model = path
        self.model_panel.show_loading(path, device)
        self.status("loading model…")
        self.request_load.emit(path, device, self.model_panel.current_precision())

    @Slot(str)
    def on_model_chosen(self, path: str) -> None:
        if path != self.loaded_model or self.loading_model:
            self.load_model(path)

    @Slot(str)
    def on_device_chosen(self, device: str) -> None:
        self.settings.set("device", device)
        path = self.loading_model or self.loaded_model or self.model_panel.current_model()
        if path:
            self.load_model(path, device)

    @Slot(str)
    def on_precision_chosen(self, precision: str) -> None:
        self.settings.set("precision", precision)
        path = self.loading_model or self.loaded_model or self.model_panel.current_model()
        if path:
            self.load_model(path)

    @Slot()
    def add_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model file", self.settings.text("last_model_dir"),
                                              "Model files (*.safetensors *.pth *.pt *.bin);;All files (*)")
        if path:
            self.add_model_file(path)
        elif self.loaded_model:
            self.model_panel.select_model(self.loaded_model)

    def add_model_file(self, path: str) -> None:
        """Remember a model file the user picked, list it, and load it."""
        self.settings.set("last_model_dir", str(Path(path).parent))
        self.settings.add_recent("added_models", path)
        self.refresh_models()
        self.model_panel.select_model(path)
        self.load_model(path)

    @Slot()
    def get_models_dialog(self) -> None:
        from vit_gui.gui.get_models import GetModelsDialog

        dialog = GetModelsDialog(self)
        dialog.model_installed.connect(self.on_model_installed)
        dialog.exec()

    @Slot()
    def teach_dialog(self) -> None:
        """The Teach window, on the model loaded now (its classes are taught on top of it)."""
        from vit_gui.gui.teach_window import TeachWindow

        if getattr(self, "teach_window", None) is not None:
            if self.teach_window.isVisible() and self.teach_window.base_path == self.loaded_model:
                self.teach_window.raise_()  # the one open, with its work: not a second one beside it
                self.teach_window.activateWindow()
                return
            self.teach_window.done(0)  # a window on another model: its thread stops before it goes
        self.teach_window = TeachWindow(self.loaded_model, self.model_panel.current_device(), self)
        self.teach_window.model_saved.connect(self.on_model_taught)
        self.teach_window.show_photos.connect(self.shortcut_checks.show_in_list)
        self.teach_window.show()

    @Slot(str)
    def on_model_taught(self, path: str) -> None:
        self.refresh_models()
        self.model_panel.select_model(path)
        self.load_model(path)

    @Slot(str)
    def on_model_installed(self, path: str) -> None:
        self.refresh_models()
        if self.loaded_model is None:
            self.model_panel.select_model(path)
            self.load_model(path)


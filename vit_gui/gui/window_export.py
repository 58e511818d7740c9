"""Saving what the main window shows: the map as a PNG at the photo's full size (on the
export thread) and every result as CSV, both written atomically. A part of MainWindow (mixed
in), kept apart by concern."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFileDialog

from vit_gui.gui.plain import warn


class ExportMixin:
    @Slot()
    def export_png_dialog(self) -> None:
        key = self.results.current_key()
        if key is None or self.attention.export_recipe(legend=False) is None:
            self.status("nothing to save yet: select a classified image")
            return
        stem = Path(self.session.records[key].name).stem
        kind = self.attention.export_name()
        default = str(Path(self.settings.text("last_export_dir", str(Path.home()))) / f"{stem}.{kind}.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save the map as PNG", default, "PNG image (*.png)")
        if path:
            self.settings.set("last_export_dir", str(Path(path).parent))
            self.export_png(path)

    def export_png(self, path: str) -> bool:
        """Save the shown overlay at the original image's full size (atomic write), on the
        export thread: a 120 MP photo takes seconds, which the window does not wait out.
        False when there is nothing to export."""
        key = self.results.current_key()
        recipe = self.attention.export_recipe(self.legend_action.isChecked()) if key is not None else None
        if recipe is None:
            return False
        source, needs_photo = self.session.records[key].source, self.attention.view.currentIndex() == 0

        def work():
            from vit_gui.fileio import atomic_save_image
            from vit_gui.images import load_image

            image = load_image(source).image if needs_photo and isinstance(source, str) else source
            atomic_save_image(path, recipe(image))
            return path

        self.exports.submit(work)
        self.status(f"saving {path}…")
        return True

    @Slot()
    def export_csv_dialog(self) -> None:
        default = str(Path(self.settings.text("last_export_dir", str(Path.home()))) / "results.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export results as CSV", default, "CSV (*.csv)")
        if path:
            self.settings.set("last_export_dir", str(Path(path).parent))
            self.export_csv(path)

    def export_csv(self, path: str) -> bool:
        """All results: path, rank, label, index, prob, error (atomic write)."""
        from vit_gui.fileio import atomic_write_text
        from vit_gui.results_csv import results_csv

        records = [self.session.records[key] for key in self.results.keys()]
        try:
            atomic_write_text(path, results_csv(records))
        except OSError as exc:
            warn(self, "Export failed", f"Could not save {path}:\n{exc}")
            return False
        self.status(f"saved {path}")
        return True


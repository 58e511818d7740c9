"""Saving what the main window shows: the map as a PNG at the photo's full size (on the
export thread) and every result as CSV, both written atomically. A part of the main window
by composition: it is given what it reads (the results list, the session, the map view,
the settings) and how to speak (the status line), and owns its export thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from vit_gui.gui.map_jobs import MapJobs
from vit_gui.gui.plain import warn


class WindowSaving(QObject):
    def __init__(self, window, results, session, map_view, settings, status: Callable[[str], None],
                 legend_on: Callable[[], bool]):
        """`legend_on()`: whether saved pictures carry the colour legend (File menu)."""
        super().__init__(window)
        self.window, self.results, self.session, self.map_view, self.settings = (window, results, session,
                                                                                  map_view, settings)
        self.status, self.legend_on = status, legend_on
        self.jobs = MapJobs(self, latest_only=False)
        self.jobs.finished.connect(self.on_done)

    def _last_folder(self) -> Path:
        return Path(self.settings.text("last_export_dir", str(Path.home())))

    @Slot()
    def png_dialog(self) -> None:
        key = self.results.current_key()
        if key is None or self.map_view.export_recipe(legend=False) is None:
            self.status("nothing to save yet: select a classified image")
            return
        stem = Path(self.session.records[key].name).stem
        default = str(self._last_folder() / f"{stem}.{self.map_view.export_name()}.png")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save the map as PNG", default, "PNG image (*.png)")
        if path:
            self.settings.set("last_export_dir", str(Path(path).parent))
            self.png(path)

    def png(self, path: str) -> bool:
        """Save the shown overlay at the original image's full size (atomic write), on the
        export thread: a 120 MP photo takes seconds, which the window does not wait out.
        False when there is nothing to export."""
        key = self.results.current_key()
        recipe = self.map_view.export_recipe(self.legend_on()) if key is not None else None
        if recipe is None:
            return False
        source, needs_photo = self.session.records[key].source, self.map_view.state.settings.view == 0

        def work():
            from vit_gui.fileio import atomic_save_image
            from vit_gui.images import load_image

            image = load_image(source).image if needs_photo and isinstance(source, str) else source
            atomic_save_image(path, recipe(image))
            return path

        self.jobs.submit(work)
        self.status(f"saving {path}…")
        return True

    @Slot(int, object, str)
    def on_done(self, _request: int, path, error: str) -> None:
        if error:
            warn(self.window, "Export failed", f"Could not save the overlay:\n{error}")
            self.status("export failed")
        else:
            self.status(f"saved {path}")

    @Slot()
    def csv_dialog(self) -> None:
        default = str(self._last_folder() / "results.csv")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export results as CSV", default, "CSV (*.csv)")
        if path:
            self.settings.set("last_export_dir", str(Path(path).parent))
            self.csv(path)

    def csv(self, path: str) -> bool:
        """All results: path, rank, label, index, prob, error (atomic write)."""
        from vit_gui.fileio import atomic_write_text
        from vit_gui.results_csv import results_csv

        records = [self.session.records[key] for key in self.results.keys()]
        try:
            atomic_write_text(path, results_csv(records))
        except OSError as exc:
            warn(self.window, "Export failed", f"Could not save {path}:\n{exc}")
            return False
        self.status(f"saved {path}")
        return True

    def wait(self) -> None:
        """An export in progress finishes: the user asked for that file."""
        self.jobs.wait()

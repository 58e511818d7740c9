"""File > "Check a folder for shortcuts…" and what a check's findings open: a part of the main
window by composition. It asks the window (through callables) for the model loaded and the
device, opens a shortcut check window per request, and shows the photos a finding names in
the main list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Slot
from PySide6.QtWidgets import QFileDialog

from vit_gui.gui.plain import warn


class ShortcutChecks(QObject):
    def __init__(self, window, model_and_device: Callable[[], tuple[str | None, str]],
                 add_paths: Callable[[list], list[int]], select_key: Callable[[int], None],
                 status: Callable[[str], None]):
        super().__init__(window)
        self.window = window
        self.model_and_device, self.add_paths, self.select_key, self.status = (model_and_device, add_paths,
                                                                                 select_key, status)
        self.windows: list = []  # the check windows open now
        window.installEventFilter(self)  # the main window closing closes them (their threads stop)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            for check in list(self.windows):
                check.done(0)
        return False

    @Slot()
    def choose_folder(self) -> None:
        model, _ = self.model_and_device()
        if model is None:
            warn(self.window, "No model loaded", "Load a model first: the check reads how that model decides.")
            return
        folder = QFileDialog.getExistingDirectory(
            self.window, "Check a folder for shortcuts: a folder of class folders (or any photos, for a model "
                         "with classes)")
        if folder:
            self.open(Path(folder))

    def open(self, folder: Path):
        """A check window on `folder` with the main window's model, started at once; returns it."""
        from vit_gui.gui.audit_window import AuditWindow

        model, device = self.model_and_device()
        window = AuditWindow(folder, model, device, parent=self.window)
        window.show_photos.connect(self.show_in_list)
        window.finished.connect(lambda _result, closed=window: self._forget(closed))
        self.windows.append(window)
        window.show()
        window.run()
        return window

    def _forget(self, window) -> None:
        if window in self.windows:
            self.windows.remove(window)

    @Slot(list)
    def show_in_list(self, paths: list) -> None:
        """Add the photos to the main list (classified as usual), show the first, bring the
        main window forward."""
        present = [p for p in paths if Path(p).is_file()]
        if not present:
            self.status("those photos are no longer where they were when checked")
            return
        keys = self.add_paths([Path(p) for p in present])
        if keys:
            self.select_key(keys[0])
        missing = len(paths) - len(present)
        self.status(f"{len(present)} photo{'s' if len(present) != 1 else ''} from the shortcut check added to the list"
                    + (f"; {missing} no longer where {'it was' if missing == 1 else 'they were'}" if missing else ""))
        self.window.raise_()
        self.window.activateWindow()

""""Get models…": download a catalogue model with progress, cancel and resume.

Nothing is downloaded until the user clicks Download. The download runs on its own
QThread; a cancelled or interrupted download resumes the next time.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGridLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout

from vit_gui.gui.plain import esc
from vit_gui.gui.threads import start_worker_thread, stop_worker_thread


class DownloadWorker(QObject):
    progress = Signal(str, object, object)  # catalogue name, bytes so far, total (or None)
    finished = Signal(str, str, str)  # catalogue name, installed path ("" on failure), error ("" on success)

    def __init__(self):
        super().__init__()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot(str)
    def download(self, name: str) -> None:
        from vit_gui.errors import VitGuiError
        from vit_gui.model.catalog import known_model
        from vit_gui.model.download import download_model

        self._cancel.clear()
        try:
            path = download_model(known_model(name), progress=lambda d, t: self.progress.emit(name, d, t),
                                  cancelled=self._cancel.is_set)
        except VitGuiError as exc:
            self.finished.emit(name, "", str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - report, never take the app down
            self.finished.emit(name, "", f"unexpected error: {exc}")
            return
        self.finished.emit(name, str(path), "")


class GetModelsDialog(QDialog):
    model_installed = Signal(str)  # path of the installed weights
    start_download = Signal(str)

    def __init__(self, parent=None):
        from vit_gui.model import catalog
        from vit_gui.model.download import installed_path

        super().__init__(parent)
        self.setWindowTitle("Get models")
        self.setMinimumWidth(640)
        self.rows: dict[str, dict] = {}
        intro = QLabel("Pretrained Vision Transformers you can download. Each is verified (size, format and "
                       "shapes) before it is installed; an interrupted download resumes where it stopped.")
        intro.setWordWrap(True)
        grid = QGridLayout()
        for r, model in enumerate(catalog.CATALOG):
            title = QLabel(f"<b>{model.title}</b><br><small>{model.summary}</small>")
            title.setToolTip(model.url)
            bar = QProgressBar()
            bar.setVisible(False)
            status = QLabel("installed" if installed_path(model).exists() else "")
            status.setWordWrap(True)
            button = QPushButton("Download")
            button.clicked.connect(lambda _=False, name=model.name: self.download(name))
            grid.addWidget(title, r, 0)
            grid.addWidget(bar, r, 1)
            grid.addWidget(status, r, 2)
            grid.addWidget(button, r, 3)
            self.rows[model.name] = {"bar": bar, "status": status, "button": button}
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(buttons)

        self.active: str | None = None
        self.worker = DownloadWorker()
        self.thread = start_worker_thread(self, self.worker)
        self.start_download.connect(self.worker.download)
        self.worker.progress.connect(self.on_progress)
        self.worker.finished.connect(self.on_finished)
        self.cancel_button.clicked.connect(self.cancel)

    @Slot(str)
    def download(self, name: str) -> None:
        if self.active:
            return
        self.active = name
        row = self.rows[name]
        row["bar"].setVisible(True)
        row["bar"].setRange(0, 0)
        row["status"].setText("connecting…")
        for other in self.rows.values():
            other["button"].setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.start_download.emit(name)

    @Slot()
    def cancel(self) -> None:
        self.worker.cancel()

    @Slot(str, object, object)
    def on_progress(self, name: str, done, total) -> None:
        row = self.rows[name]
        if total:
            row["bar"].setRange(0, 1000)
            row["bar"].setValue(int(1000 * done / total))
            row["status"].setText(f"{done / 1e6:.1f} of {total / 1e6:.1f} MB")
        else:
            row["status"].setText(f"{done / 1e6:.1f} MB")

    @Slot(str, str, str)
    def on_finished(self, name: str, path: str, error: str) -> None:
        row = self.rows[name]
        row["bar"].setVisible(False)
        row["status"].setText("installed" if path else f"<span style='color:#c0392b'>{esc(error)}</span>")
        row["status"].setTextFormat(Qt.TextFormat.RichText)
        for other in self.rows.values():
            other["button"].setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.active = None
        if path:
            self.model_installed.emit(path)

    def done(self, result: int) -> None:
        """Closing the dialog cancels a running download (it resumes next time)."""
        self.worker.cancel()
        stop_worker_thread(self.thread)
        super().done(result)

""""Get models…": download a catalogue model with progress, cancel and resume.

Nothing is downloaded until the user clicks Download. The download runs on its own
QThread; a cancelled or interrupted download resumes the next time.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from vit_gui.gui.plain import esc, tooltip
from vit_gui.gui.screen_fit import fit_to_screen
from vit_gui.gui.threads import start_worker_thread, stop_worker_thread

#: what each catalogue model is for, in a user's words; models not listed go under "Other models"
NEEDS = (
    ("Recognise everyday things (1,000 kinds of objects and animals)",
     ("vit-s16", "vit-b16", "deit-s16", "deit-b16-distilled", "deit-ti16")),
    ("Teach your own classes, or see where a model looks (no classes of its own; "
     "DINOv2 ViT-S/14 is built in already)", ("dinov2-s14-reg4", "dinov2-b14-reg4", "dinov2-s14")),
)
#: one pick per need, and why, in words
RECOMMENDED = {
    "vit-s16": "A good balance: 4 points less often right than the large one, at a quarter of its size.",
    "dinov2-s14-reg4": "Like the built-in one, with 4 extra 'register' tokens that keep its maps free of stray "
                       "bright spots (Darcet et al. 2023).",
}


def needs_of(models) -> list[tuple[str, list]]:
    """The catalogue grouped by need, in NEEDS' order; the rest as "Other models"."""
    by_name = {m.name: m for m in models}
    groups = [(need, [by_name[n] for n in names if n in by_name]) for need, names in NEEDS]
    listed = {n for _, names in NEEDS for n in names}
    others = [m for m in models if m.name not in listed]
    return [(need, found) for need, found in groups if found] + ([("Other models", others)] if others else [])


def plain_title(model) -> str:
    """The model's family and size, without training-recipe words (AugReg2, 21k → 1k, LVD-142M)."""
    family = model.title.split(" (")[0]
    size = "tiny" if model.params < 10e6 else "small" if model.params < 40e6 else "large"
    return f"{family}: {size}"


def plain_words(model) -> str:
    size = f"{model.approx_bytes / 1e6:.0f} MB to download"
    if model.num_classes and model.imagenet_top1:
        return f"Right on {model.imagenet_top1:.0f}% of ImageNet's test photos; {size}."
    return f"Knows no classes until you teach it; {size}."


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
        fit_to_screen(self, 820, 560)
        self.rows: dict[str, dict] = {}
        intro = QLabel("Models you can download, by what you want to do. Not sure? Take the recommended one. "
                       "Each is checked (size, format and shapes) before it is installed; an interrupted download "
                       "resumes where it stopped.")
        intro.setWordWrap(True)
        grid = QGridLayout()
        row = 0
        for need, names in needs_of(catalog.CATALOG):
            heading = QLabel(f"<b>{esc(need)}</b>")
            heading.setContentsMargins(0, 8 if row else 0, 0, 2)
            grid.addWidget(heading, row, 0, 1, 3)
            row += 1
            for model in names:
                pick = RECOMMENDED.get(model.name)
                title = QLabel(f"{'★ ' if pick else ''}<b>{esc(plain_title(model))}</b>"
                               + (" <span style='color:#1e7e34'>recommended</span>" if pick else "")
                               + f"<br><small>{esc(plain_words(model))}" + (f" {esc(pick)}" if pick else "")
                               + "</small>")
                title.setWordWrap(True)
                title.setToolTip(tooltip(f"{model.title}\n{model.summary}\n{model.url}"))
                bar = QProgressBar()
                bar.setVisible(False)
                status = QLabel("installed" if installed_path(model).exists() else "")
                status.setWordWrap(True)
                status.setVisible(bool(status.text()))  # an empty row would leave a gap
                button = QPushButton("Download")
                button.clicked.connect(lambda _=False, name=model.name: self.download(name))
                grid.addWidget(title, row, 0)
                grid.addWidget(bar, row, 1)
                grid.addWidget(button, row, 2)
                grid.addWidget(status, row + 1, 0, 1, 3)  # a message gets the whole width under its model
                self.rows[model.name] = {"bar": bar, "status": status, "button": button}
                row += 2
        grid.setColumnStretch(0, 1)
        grid.setRowStretch(row, 1)  # spare height below the rows, not between them
        listing = QWidget()  # word-wrapped rows in a scroll area: every line shows, at any size
        listing.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(listing)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
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
        row["status"].setVisible(True)
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
        row["status"].setVisible(True)
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

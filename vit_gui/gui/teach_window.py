"""The Teach window: class folders in, a classifier for them out, with a report a
non-programmer can read (accuracy, per-class precision and recall, a confusion matrix, the
validation photos it got most wrong with what it looked at).

It arranges widgets and delegates: teaching runs in `vit_gui.teach` on a worker thread,
which also draws the pictures (plot, confusion matrix: `vit_gui.teach.figures`) and the
hardest photos' maps with the taught model in memory, so the window never waits on a
drawing, for 2 classes or 2,000, and no temporary model file is left behind.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSize, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from vit_gui.explain.check_progress import Countdown, seconds_words
from vit_gui.gui.pictures import pil_pixmap, png_pixmap
from vit_gui.gui.plain import plain_label, tooltip
from vit_gui.gui.screen_fit import fit_to_screen
from vit_gui.gui.teach_report import TeachReport
from vit_gui.gui.teach_worker import TeachResult, TeachWorker
from vit_gui.gui.threads import start_worker_thread, stop_worker_thread

THUMBS_PER_CLASS = 3


class TeachWindow(QDialog):
    model_saved = Signal(str)  # path of the saved model
    show_photos = Signal(list)  # paths a shortcut finding concerns, for the main list
    start = Signal(object, str, str, float, str)

    def __init__(self, base_path: str | None, device: str = "cpu", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Teach new classes")
        self.setAcceptDrops(True)
        self.base_path, self.device = base_path, device
        self.folders: list[Path] = []
        self.result = None
        self.trials: list[dict] = []
        self.shortcuts = None  # the shortcut check window, once asked for
        self._reading_since: tuple[Countdown, int] | None = None  # (its clock, photos done) when reading began
        self._build()
        self._start_worker()

    # ---- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        intro = plain_label("Put the photos of each class in a folder of its own, named after the class "
                            "(cats/, dogs/, …), then choose the folder that holds them, or drop the class "
                            "folders here. The model stays as it is; a small classifier is taught on what "
                            "it sees. Reading the photos takes most of the time: about a second for every "
                            "10-20 photos on a laptop, and the window says how long is left.")
        intro.setWordWrap(True)
        self.choose = QPushButton("Choose a folder of class folders…")
        self.classes = QListWidget()
        self.classes.setIconSize(QSize(48 * THUMBS_PER_CLASS, 48))
        self.val_split = QSpinBox()
        self.val_split.setRange(5, 50)
        self.val_split.setSingleStep(5)
        self.val_split.setSuffix("%")
        self.val_split.setValue(20)
        self.val_split.setToolTip("the share of each class kept aside to check the classifier on photos it "
                                  "did not learn from")
        self.patch_mean = QCheckBox("Read the whole picture too (class token + mean of the patches)")
        self.patch_mean.setToolTip("the classifier also reads the average of every patch, as DINOv2's own "
                                   "evaluation does; it can help when what matters is spread over the photo")
        self.finetune = QCheckBox("Also fine-tune the last 2 blocks (slower: minutes)")
        self.finetune.setToolTip("after the quick classifier, train the model's last two blocks too, on "
                                 "flipped and cropped copies of the photos; for larger sets of photos")
        self.train = QPushButton("Teach")
        self.train.setEnabled(False)
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.status = plain_label("")
        self.status.setWordWrap(True)
        self.report = TeachReport()
        self.save = QPushButton("Save as a model")
        self.save.setEnabled(False)
        self.check_shortcuts = QPushButton("Check for shortcuts…")
        self.check_shortcuts.setToolTip("before saving: is it right for the right reason? Looks at what it used in "
                                        "every photo it was taught with (a logo, the background, …)")
        self.check_shortcuts.setEnabled(False)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(intro)
        left_layout.addWidget(self.choose)
        left_layout.addWidget(self.classes, 1)
        form = QFormLayout()
        form.addRow("Kept for checking:", self.val_split)
        left_layout.addLayout(form)
        left_layout.addWidget(self.patch_mean)
        left_layout.addWidget(self.finetune)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train)
        buttons.addWidget(self.cancel)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.progress)
        left_layout.addWidget(self.status)

        report = QScrollArea()  # on a laptop screen the report scrolls; Save stays in view below it
        report.setWidgetResizable(True)
        report.setWidget(self.report)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(report)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 900])
        bottom = QHBoxLayout()
        bottom.addStretch()
        bottom.addWidget(self.check_shortcuts)
        bottom.addWidget(self.save)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)
        fit_to_screen(self, 1240, 780)

        self.choose.clicked.connect(self.choose_folder)
        self.train.clicked.connect(self.start_teaching)
        self.cancel.clicked.connect(self.cancel_teaching)
        self.save.clicked.connect(self.save_model)
        self.check_shortcuts.clicked.connect(self.check_for_shortcuts)
        if not self.base_path:
            self.status.setText("Load a model in the main window first: the classes are taught on top of it.")

    def _start_worker(self) -> None:
        self.worker = TeachWorker()
        self.thread = start_worker_thread(self, self.worker)
        self.start.connect(self.worker.run)
        self.worker.progress.connect(self.on_progress)
        self.worker.trial.connect(self.on_trial)
        self.worker.finished.connect(self.on_finished)

    # ---- choosing the data ----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        folders = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [f for f in folders if f.is_dir()]
        if folders:
            event.acceptProposedAction()
            self.set_folders(folders)

    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the folder that holds one folder per class")
        if folder:
            self.set_folders([Path(folder)])

    def set_folders(self, folders: list[Path]) -> None:
        """Show each class with its image count and a few thumbnails."""
        from vit_gui.teach.data import TeachDataError, read_class_folders

        self.classes.clear()
        self.folders = folders
        try:
            dataset = read_class_folders(folders)
        except (TeachDataError, OSError) as exc:
            self.status.setText(str(exc))
            self.train.setEnabled(False)
            return
        for index, name in enumerate(dataset.classes):
            paths = [p for p, label in dataset.items if label == index]
            item = QListWidgetItem(f"{name} — {len(paths)} photos")
            item.setIcon(QIcon(self._strip(paths[:THUMBS_PER_CLASS])))
            item.setToolTip(tooltip(f"{name}: {len(paths)} photos"))
            self.classes.addItem(item)
        skipped = f"; {len(dataset.skipped)} files left out (hover a class for details)" if dataset.skipped else ""
        self.status.setText(f"{len(dataset.classes)} classes, {len(dataset.items)} photos{skipped}")
        if dataset.skipped:
            self.status.setToolTip(tooltip("\n".join(f"{p.name}: {why}" for p, why in dataset.skipped[:30])))
        self.train.setEnabled(bool(self.base_path))

    @staticmethod
    def _strip(paths) -> QPixmap:
        """Thumbnails side by side, 48 px high."""
        from PIL import Image

        from vit_gui.errors import VitGuiError
        from vit_gui.images import load_image

        strip = Image.new("RGB", (48 * THUMBS_PER_CLASS, 48), (240, 240, 240))
        for i, path in enumerate(paths):
            try:
                image = load_image(path).image
            except VitGuiError:
                continue
            image.thumbnail((48, 48))
            strip.paste(image, (48 * i, 0))
        return pil_pixmap(strip)

    # ---- teaching -----------------------------------------------------------------------------
    @Slot()
    def start_teaching(self) -> None:
        if self.shortcuts is not None:  # its findings were about the model taught before
            self.shortcuts.done(0)
            self.shortcuts = None
        self.trials.clear()
        self.result = None
        self.save.setEnabled(False)
        self.check_shortcuts.setEnabled(False)
        self.train.setEnabled(False)
        self.cancel.setEnabled(True)
        self.status.setText("reading the photos…")
        self._reading_since = None
        mode = "finetune" if self.finetune.isChecked() else "probe"
        feature = "cls+mean" if self.patch_mean.isChecked() else "cls"
        self.start.emit(self.folders, self.base_path, self.device, self.val_split.value() / 100, f"{mode}/{feature}")

    @Slot()
    def cancel_teaching(self) -> None:
        self.worker.cancel()
        self.status.setText("cancelling…")

    @Slot(str, int, int)
    def on_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        if stage != "reading images":
            self.status.setText(f"{stage}…")
            return
        if done == 0 or self._reading_since is None:
            self._reading_since = (Countdown(time.monotonic), done)
        countdown, first = self._reading_since
        left = countdown.left(done - first, total - done) if first < done < total else None
        self.status.setText(f"reading the photos: {done} of {total}"
                            + (f", about {seconds_words(left)} left" if left is not None else ""))

    @Slot(object, bytes)
    def on_trial(self, row: dict, plot_png: bytes) -> None:
        self.trials.append(row)
        self.report.plot.setPixmap(png_pixmap(plot_png))

    @Slot(object, str)
    def on_finished(self, result, error: str) -> None:
        self.cancel.setEnabled(False)
        self.train.setEnabled(bool(self.folders))
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if result is not None else 0)
        if result is None:
            self.status.setText(f"not taught: {error}")
            return
        self.result = result
        self.show_report(result)
        self.save.setEnabled(True)
        self.check_shortcuts.setEnabled(True)
        self.status.setText("taught: look at the report, then save it as a model")

    def show_report(self, result: TeachResult) -> None:
        self.report.show_result(result)

    @Slot()
    def save_model(self) -> None:
        from vit_gui.teach.save import save_taught_model

        taught, base = self.result.taught, self.result.base_info
        name = self.ask_name(suggested_name(taught.dataset.classes))
        if name is None:
            return
        try:
            path = save_taught_model(Path(self.base_path), base, taught.digest, taught.dataset.classes, taught.probe,
                                     taught.facts, name, tuned_state=taught.tuned_state)
        except Exception as exc:  # noqa: BLE001 - a full disk must not close the window
            self.status.setText(f"could not save: {exc}")
            return
        self.status.setText(f'saved "{name}" as {path} : it is now in the model list, and the main window uses it')
        self.save.setEnabled(False)
        self.model_saved.emit(str(path))

    @Slot()
    def check_for_shortcuts(self) -> None:
        """The shortcut check on every photo it was taught with, by the taught model in memory."""
        from vit_gui.audit.collect import Folder
        from vit_gui.gui.audit_window import AuditWindow

        if self.shortcuts is not None:
            self.shortcuts.done(0)
            self.shortcuts = None
        data = self.result.taught.dataset
        photos = Folder([path for path, _ in data.items], [label for _, label in data.items], list(data.classes))
        taught_from = {path.parent.parent for path, _ in data.items}  # what was taught, not what is chosen now
        where = f" from {taught_from.pop().name}" if len(taught_from) == 1 else ""
        self.shortcuts = AuditWindow(photos, self.result.model, self.device,
                                     f"the {len(data.items)} photos taught{where}", self)
        self.shortcuts.show_photos.connect(self.show_photos)
        self.shortcuts.show()
        self.shortcuts.run()

    def ask_name(self, suggested: str) -> str | None:
        """The model's name, as the model list will show it (None: not now)."""
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Save as a model")
        dialog.setLabelText("Name the new model (the model list shows it by this name):")
        dialog.setTextValue(suggested)
        dialog.resize(420, dialog.sizeHint().height())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return " ".join(dialog.textValue().split()) or suggested

    def done(self, result: int) -> None:
        if self.shortcuts is not None:
            self.shortcuts.done(0)
            self.shortcuts = None
        self.worker.cancel()
        stop_worker_thread(self.thread)
        super().done(result)


def suggested_name(classes: list[str]) -> str:
    """What the classes are, as a model's name: "cats, dogs, rockets" (past three: "…")."""
    return ", ".join(classes[:3]) + (f" and {len(classes) - 3} more" if len(classes) > 3 else "")

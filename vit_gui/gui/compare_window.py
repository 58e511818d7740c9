"""Two models side by side: each photo shows both models' classes and their maps with one set
of map settings and one zoom; the list puts first the photos where they disagree (top-1
differs, then the maps that differ most); the top line sums it up over the folder with
intervals. The numbers are the `vit-gui compare` command's (`cli.compare`, `explain.agreement`):
maps are compared on the photo, so two models with different patch sizes or input sizes
compare fairly. The models run on a `CompareWorker` thread; this window arranges and asks.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vit_gui.gui.map_controls import MapControls
from vit_gui.gui.map_view import MapView
from vit_gui.gui.plain import plain_label
from vit_gui.gui.screen_fit import fit_to_screen
from vit_gui.map_state import MapState, link_settings

SIDES = ("a", "b")


MAP_WORDS = {"rollout": "rollout maps", "class": "evidence maps (each model's for its own top class)"}


def agreement_words(summary: dict, kind: str = "rollout") -> str:
    """The folder's top line: top-1 agreement and mean map agreement, each with its interval and n."""
    parts = []
    if summary["top1_compared"]:
        low, high = summary["top1_agreement_interval"]
        parts.append(f"Same top class on {summary['top1_compared'] - summary['top1_disagreements']} of "
                     f"{summary['top1_compared']} photos ({summary['top1_agreement']:.0%}; 95% interval "
                     f"{low:.0%}–{high:.0%})")
    else:
        parts.append("No top classes to compare (a model without classes)")
    if summary["maps_compared"]:
        low, high = summary["map_agreement_interval"]
        parts.append(f"{MAP_WORDS[kind]} agree {summary['map_agreement_mean']:+.2f} on average (rank correlation "
                     "on the photo, "
                     f"1 = same order, 0 = unrelated; 95% interval {low:+.2f} to {high:+.2f}, "
                     f"n = {summary['maps_compared']})")
    if summary["failed"]:
        parts.append(f"{summary['failed']} could not be read")
    return " · ".join(parts)


class ModelSide(QWidget):
    """One model's column: its name, its classes for the photo shown, and its map."""

    def __init__(self, letter: str, state: MapState, parent=None):
        super().__init__(parent)
        self.letter = letter
        self.title = plain_label(f"{letter.upper()}: loading…")
        self.title.setStyleSheet("font-weight: bold")
        self.classes = plain_label("")
        self.classes.setWordWrap(True)
        self.view = MapView(state, checkable=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.classes)
        layout.addWidget(self.view, 1)

    def show_prediction(self, photo, prediction) -> None:
        top = prediction.top or []
        self.classes.setText("  ·  ".join(f"{t.label} {t.prob:.0%}" for t in top[:3]) if top else
                             "no classes (a backbone): its attention only")
        self.view.show_item(photo, prediction)


class CompareWindow(QMainWindow):
    request_load = Signal(str, str, str)
    request_run = Signal(object, str)
    request_show = Signal(str)
    request_gradient_map = Signal(str, str, object)

    def __init__(self, model_a: str, model_b: str, device: str, photos: list, parent=None, look: dict | None = None):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.model_paths, self.device, self.photos = (model_a, model_b), device, [str(p) for p in photos]
        self.setWindowTitle(f"Compare {Path(model_a).name} with {Path(model_b).name}")
        self.rows: list = []  # explain.agreement.PhotoAgreement, as they come
        self.infos = None
        self.kind = "rollout"  # the maps compared: "class" where both models have classes
        self.shown_path: str | None = None
        self.busy = False
        self.states = (MapState(), MapState())
        link_settings(*self.states)  # one set of settings, one zoom
        self.states[0].change(**(look or {}))  # the main window's colours, opacity, fusion…
        self._build()
        self._start_worker()
        fit_to_screen(self, 1280, 800)

    def _build(self) -> None:
        self.summary = plain_label("Loading both models…")
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.on_cancel)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel)

        self.photo_list = QTreeWidget()
        self.photo_list.setHeaderLabels(["Photo", "Maps", "A says", "B says"])
        self.photo_list.headerItem().setToolTip(1, "how much the two maps agree on the photo: rank correlation, "
                                                   "1 = the same order of places, 0 = unrelated, below 0 = opposite")
        self.photo_list.setRootIsDecorated(False)
        self.photo_list.setToolTip("photos where the two models disagree come first: a different top class, "
                                   "then the maps that differ most (rank correlation on the photo)")
        self.photo_list.currentItemChanged.connect(self.on_photo_chosen)
        self.sides = tuple(ModelSide(letter, state) for letter, state in zip(SIDES, self.states))
        for side in self.sides:
            side.view.gradient_map_requested.connect(
                lambda spec, letter=side.letter: self.on_gradient_map_requested(letter, spec))
        both = QSplitter()
        for side in self.sides:
            both.addWidget(side)
        self.controls = MapControls(self.states[0])
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.controls)
        together = plain_label("Both maps follow these settings and zoom together (Ctrl+wheel, or + under "
                               "either photo).")
        together.setWordWrap(True)
        right_layout.addWidget(together)
        right_layout.addStretch()
        side_scroll = QScrollArea()  # on a small screen the settings scroll rather than push the maps off
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setWidget(right)
        side_scroll.setMinimumWidth(right.sizeHint().width() + 12)
        self.photo_list.setMinimumWidth(260)
        splitter = QSplitter()
        splitter.addWidget(self.photo_list)
        splitter.addWidget(both)
        splitter.addWidget(side_scroll)
        for index, stretch in enumerate((0, 1, 0)):
            splitter.setStretchFactor(index, stretch)
        splitter.setSizes([310, 700, side_scroll.minimumWidth()])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)

    def _start_worker(self) -> None:
        from vit_gui.gui.compare_worker import CompareWorker
        from vit_gui.gui.threads import start_held_thread

        self.worker = CompareWorker()
        self.thread = start_held_thread(self.worker)
        self.request_load.connect(self.worker.load)
        self.request_run.connect(self.worker.run)
        self.request_show.connect(self.worker.show)
        self.request_gradient_map.connect(self.worker.gradient_map)
        self.worker.loaded.connect(self.on_loaded)
        self.worker.load_failed.connect(self.on_load_failed)
        self.worker.compared.connect(self.on_compared)
        self.worker.progress.connect(self.on_progress)
        self.worker.finished.connect(self.on_finished)
        self.worker.shown.connect(self.on_shown)
        self.worker.show_failed.connect(self.on_show_failed)
        self.worker.gradient_map_ready.connect(self.on_gradient_map_ready)

    def start(self) -> None:
        self.busy = True
        self.worker.rearm()  # here, not at the run: a Cancel while the models load is kept
        self.request_load.emit(*self.model_paths, self.device)

    # ---- answers from the worker ---------------------------------------------------------
    @Slot(object, object)
    def on_loaded(self, info_a, info_b) -> None:
        from vit_gui.images import find_images

        self.infos = (info_a, info_b)
        self.setWindowTitle(f"Compare {info_a.name} (A) with {info_b.name} (B)")
        # two models with classes are compared by their evidence for their own top class (a
        # probe and its fine-tune look alike in rollout, 0.998 or more, and differ here);
        # else by rollout; the views open on the map the list's numbers are of
        self.kind = "class" if not any(i.architecture.is_backbone for i in self.infos) else "rollout"
        for side, info, state in zip(self.sides, self.infos, self.states):
            side.title.setText(f"{side.letter.upper()}: {info.name}")
            arch = info.architecture
            state.set_model(arch.depth, arch.num_heads, info.rollout_start_block, not arch.is_backbone,
                            self.kind)
        paths = [str(p) for p in find_images([Path(p) for p in self.photos])]
        self.progress.setRange(0, max(1, len(paths)))
        self.summary.setText(f"Comparing on {len(paths)} photos…")
        self.request_run.emit(paths, self.kind)

    @Slot(str)
    def on_load_failed(self, message: str) -> None:
        self.busy = False
        self.summary.setText(f"Could not load the models: {message}")
        self.progress.setVisible(False)
        self.cancel.setVisible(False)

    @Slot(object)
    def on_compared(self, rows: list) -> None:
        from vit_gui.explain.agreement import summarise

        self.rows += rows
        self.summary.setText(agreement_words(summarise(self.rows), self.kind))
        self._fill_list()

    def _fill_list(self) -> None:
        """The photos, disagreements first; the photo shown stays chosen."""
        self.photo_list.blockSignals(True)
        self.photo_list.clear()
        for row in sorted(self.rows, key=lambda r: r.disagreement()):
            maps = "" if row.maps is None else f"{row.maps:+.2f}"
            item = QTreeWidgetItem([Path(row.path).name, maps, row.top_a or "–", row.top_b or "–"])
            item.setData(0, Qt.ItemDataRole.UserRole, row.path)
            item.setToolTip(0, row.error or row.path)
            if row.top_agree is False:
                for column in (2, 3):
                    item.setForeground(column, Qt.GlobalColor.darkRed)
            self.photo_list.addTopLevelItem(item)
            if row.path == self.shown_path:
                self.photo_list.setCurrentItem(item)
        self.photo_list.blockSignals(False)
        for column in range(4):
            self.photo_list.resizeColumnToContents(column)
        self.photo_list.setColumnWidth(0, min(self.photo_list.columnWidth(0), 130))  # long names elide
        if self.shown_path is None and self.photo_list.topLevelItemCount():
            self.photo_list.setCurrentItem(self.photo_list.topLevelItem(0))

    @Slot(int, int)
    def on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    @Slot(bool)
    def on_finished(self, cancelled: bool) -> None:
        self.busy = False
        self.cancel.setVisible(False)
        self.progress.setVisible(False)
        if cancelled:
            self.summary.setText(self.summary.text() + " · cancelled: the photos compared so far are listed")

    def on_photo_chosen(self, item, _previous=None) -> None:
        if item is None:
            return
        self.shown_path = item.data(0, Qt.ItemDataRole.UserRole)
        row = next((r for r in self.rows if r.path == self.shown_path), None)
        if row is not None and row.error:
            for side in self.sides:
                side.view.clear(f"{Path(row.path).name}\n\n{row.error}")
            return
        for side in self.sides:
            side.view.clear(f"{Path(self.shown_path).name}\n\nboth models are looking…")
        self.request_show.emit(self.shown_path)

    @Slot(str, object, object, object)
    def on_shown(self, path: str, photo, prediction_a, prediction_b) -> None:
        if path != self.shown_path:
            return
        for side, prediction in zip(self.sides, (prediction_a, prediction_b)):
            side.show_prediction(photo, prediction)

    @Slot(str, str)
    def on_show_failed(self, path: str, error: str) -> None:
        if path == self.shown_path:
            for side in self.sides:
                side.view.clear(f"{Path(path).name}\n\n{error}")

    def on_gradient_map_requested(self, letter: str, spec) -> None:
        if self.shown_path is not None:
            self.request_gradient_map.emit(self.shown_path, letter, spec)

    @Slot(str, str, object, object, str)
    def on_gradient_map_ready(self, path: str, letter: str, spec, grid_map, error: str) -> None:
        if path != self.shown_path:
            return
        view = self.sides[SIDES.index(letter)].view
        if grid_map is None:
            view.gradient_map_failed(spec, error)
        else:
            view.set_class_map(spec, grid_map)

    @Slot()
    def on_cancel(self) -> None:
        self.worker.cancel()  # a flag, set from here: a signal would wait behind the run

    def closeEvent(self, event) -> None:
        """The work under way stops; the thread is no window's (threads.start_held_thread)."""
        self.worker.cancel()
        for side in self.sides:
            side.view.jobs.cancel()
            side.view.jobs.wait()
        self.thread.quit()
        super().closeEvent(event)

"""Two models side by side: each photo shows both models' classes and their maps with one set
of map settings and one zoom; the list puts first the photos where they disagree (top-1
differs, then the maps that differ most); the top line sums it up over the folder with
intervals. The numbers are the `vit-gui compare` command's (`cli.compare`, `explain.agreement`):
maps are compared on the photo, so two models with different patch sizes or input sizes
compare fairly. The models run on a `CompareWorker` thread; this window arranges and asks.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from vit_gui.explain.maps import METHODS
from vit_gui.gui.compare_parts import MAP_WORDS, ModelSide, PhotoList, agreement_words
from vit_gui.gui.map_controls import MapControls
from vit_gui.gui.plain import plain_label
from vit_gui.gui.screen_fit import fit_to_screen, scrolling_panel
from vit_gui.map_state import VIEW_SINGLE, MapState, link_settings

SIDES = ("a", "b")
REFRESH_MS = 300  # the summary and the list redrawn at most this often while rows come


def _narrow(controls: MapControls) -> MapControls:
    """Lists that show the start of their choice (the whole on opening): two maps need the width."""
    for combo in (controls.mode, controls.view, controls.fusion, controls.colormap, controls.head):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(9)
    return controls


class CompareWindow(QMainWindow):
    request_load = Signal(str, str, str, str)
    request_run = Signal(object, str)
    request_show = Signal(str)
    request_gradient_map = Signal(str, str, object)

    def __init__(self, model_a: str, model_b: str, device: str, photos: list, parent=None, look: dict | None = None,
                 precision_b: str = "float32"):
        """B runs in `precision_b` (A in float32): a model against its own int8 or bfloat16."""
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.model_paths, self.device, self.photos = (model_a, model_b), device, [str(p) for p in photos]
        self.precision_b = precision_b
        self.setWindowTitle(f"Compare {Path(model_a).name} with {Path(model_b).name}")
        self.rows: list = []  # explain.agreement.PhotoAgreement, as they come
        self.infos = None
        self.kind = "rollout"  # the maps compared: "class" where both models have classes
        self.shown_path: str | None = None
        self.busy = False
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh)
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

        self.photo_list = PhotoList()
        self.photo_list.currentItemChanged.connect(self.on_photo_chosen)
        key = plain_label("First the photos where the models disagree: red, a different top class; then the "
                          "maps least alike (Maps agree: 1 = the same places, 0 = unrelated).")
        key.setWordWrap(True)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.photo_list, 1)
        left_layout.addWidget(key)
        self.sides = tuple(ModelSide(letter, state) for letter, state in zip(SIDES, self.states))
        for side in self.sides:
            side.view.gradient_map_requested.connect(
                lambda spec, letter=side.letter: self.on_gradient_map_requested(letter, spec))
            side.class_clicked.connect(self.show_class_on_both)
            side.view.legend.compact = True  # "less … more": the caption above names the class
        self.photo_title = plain_label("")
        self.photo_title.setStyleSheet("font-weight: bold")
        self.map_note = plain_label("")  # when the maps shown are not the ones the numbers are of
        self.map_note.setWordWrap(True)
        self.map_note.setStyleSheet("color: #a04000")
        self.states[0].subscribe(lambda _changed: self._say_which_maps())  # B's changes reach A (linked)
        both_sides = QSplitter()
        for side in self.sides:
            both_sides.addWidget(side)
        both = QWidget()
        both_layout = QVBoxLayout(both)
        both_layout.setContentsMargins(0, 0, 0, 0)
        both_layout.addWidget(self.photo_title)
        both_layout.addWidget(self.map_note)
        both_layout.addWidget(both_sides, 1)
        self.controls = _narrow(MapControls(self.states[0]))
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.controls)
        self.right_layout = right_layout
        together = plain_label("Both maps follow these settings and zoom together (Ctrl+wheel, or + under "
                               "either photo). Click a class under either model to see both models' evidence "
                               "for it.")
        together.setWordWrap(True)
        right_layout.addWidget(together)
        right_layout.addStretch()
        side_scroll = scrolling_panel(right)
        side_scroll.setMaximumWidth(side_scroll.minimumWidth() + 60)  # the rest to the maps and the list
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(both)
        splitter.addWidget(side_scroll)
        for index, stretch in enumerate((0, 1, 0)):
            splitter.setStretchFactor(index, stretch)
        splitter.setSizes([380, 700, side_scroll.minimumWidth()])
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
        self.request_load.emit(*self.model_paths, self.device, self.precision_b)

    # ---- answers from the worker ---------------------------------------------------------
    @Slot(object, object)
    def on_loaded(self, info_a, info_b) -> None:
        self.infos = (info_a, info_b)
        self.setWindowTitle(f"Compare {info_a.name} (A) with {info_b.name} (B)")
        # two models with classes are compared by their evidence for their own top class (a
        # probe and its fine-tune look alike in rollout, 0.998 or more, and differ here);
        # else by rollout; the views open on the map the list's numbers are of
        self.kind = "class" if not any(i.architecture.is_backbone for i in self.infos) else "rollout"
        formats = ("float32", self.precision_b)
        for side, info, state, number_format in zip(self.sides, self.infos, self.states, formats):
            side.title.setText(f"{side.letter.upper()}: {info.name}"
                               + (f" ({number_format})" if self.precision_b != "float32" else ""))
            arch = info.architecture
            state.set_model(arch.depth, arch.num_heads, info.rollout_start_block, not arch.is_backbone,
                            self.kind)
        self._controls_on(self._richer_state())
        self.summary.setText("Comparing the two models on the photos…")
        self.request_run.emit(self.photos, self.kind)  # folders are walked on the worker's thread

    def _richer_state(self) -> MapState:
        """The state whose model offers more to choose (classes, then more blocks and heads):
        the controls range over its model; the other view clamps what it cannot follow."""
        def offer(state):
            return state.has_classes, state.depth, state.heads
        return max(self.states, key=offer)  # A on a tie

    def _controls_on(self, state: MapState) -> None:
        if self.controls.state is state:
            return
        self.controls.detach()
        controls = _narrow(MapControls(state))
        self.right_layout.replaceWidget(self.controls, controls)
        self.controls.deleteLater()
        self.controls = controls

    @Slot(str)
    def on_load_failed(self, message: str) -> None:
        self.busy = False
        self.summary.setText(f"Could not load the models: {message}")
        self.progress.setVisible(False)
        self.cancel.setVisible(False)

    @Slot(object)
    def on_compared(self, rows: list) -> None:
        self.rows += rows
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    @Slot()
    def _refresh(self) -> None:
        """The top line and the list from every row so far: a bootstrap and a list of the whole
        folder, so at most every REFRESH_MS while rows come (per batch, a folder of 10,000 photos
        rebuilt them 1,250 times on the GUI thread), and once more at the end."""
        from vit_gui.explain.agreement import summarise

        self._refresh_timer.stop()
        words, detail = agreement_words(summarise(self.rows), self.kind)
        self.summary.setText(words)
        self.summary.setToolTip(detail)
        self.photo_list.show_rows(self.rows, self.shown_path)
        if self.shown_path is None and self.photo_list.topLevelItemCount():
            self.photo_list.setCurrentItem(self.photo_list.topLevelItem(0))

    def _say_which_maps(self) -> None:
        """The numbers are of one kind of map; say so when another is shown."""
        state = self.states[0]
        shown = state.settings.method if state.settings.view == VIEW_SINGLE else None
        differs = self.infos is not None and self.rows and shown != self.kind
        self.map_note.setVisible(bool(differs))
        if differs:
            now = METHODS[shown].title if shown else "tiles"
            self.map_note.setText(f"The numbers are for the {MAP_WORDS[self.kind]}; the maps below show "
                                  f"{now.lower()} now.")

    def show_class_on_both(self, label: str) -> None:
        """A class clicked under either model: both models' evidence for it, where each has it."""
        missing = [side.letter.upper() for side, info in zip(self.sides, self.infos or ())
                   if not side.pick_by_name(label, info)]
        self.map_note.setVisible(bool(missing))
        if missing:
            self.map_note.setText(f"{' and '.join(missing)} has no class named “{label}”: its own top class is shown.")

    @Slot(int, int)
    def on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    @Slot(bool)
    def on_finished(self, cancelled: bool) -> None:
        if self.rows:
            self._refresh()
        self.busy = False
        self.cancel.setVisible(False)
        self.progress.setVisible(False)
        if cancelled:
            self.summary.setText(self.summary.text() + " · cancelled: the photos compared so far are listed")

    def on_photo_chosen(self, item, _previous=None) -> None:
        if item is None:
            return
        self.shown_path = item.data(0, Qt.ItemDataRole.UserRole)
        self.photo_title.setText(Path(self.shown_path).name)
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

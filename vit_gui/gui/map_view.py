"""The map view: one photo with its map (or the tiles of every block or head), what the map
means, the colour bar and "Can I trust this map?". It draws a `MapState` and changes it;
the controls that choose the map are a separate widget on the same state (`map_controls`),
so a window may hold two views, each on its own model, with one set of settings.

Changing the method, block, head, fusion, discard ratio, opacity, colours or zoom never
runs the model: the shown photo's attentions are kept and only the map is recomputed, off
the GUI thread (`map_jobs`), so the window stays responsive on a busy machine or a
1,370-token DINOv2. A map that needs gradients (class evidence, Grad-CAM, LeGrad) is asked
of the model through `gradient_map_requested`; whoever owns the model answers with
`set_class_map`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QStackedWidget, QToolButton, QVBoxLayout, QWidget

from vit_gui import map_pictures
from vit_gui.explain.maps import MapSpec
from vit_gui.gui.map_jobs import MapJobs
from vit_gui.gui.map_parts import ZOOM_STEP, MapLegend, ZoomCanvas
from vit_gui.gui.pictures import pil_pixmap
from vit_gui.gui.plain import plain_label
from vit_gui.gui.tile_sheet import SheetView
from vit_gui.map_state import VIEW_SINGLE, MapState

SAY_COMPUTING_AFTER_MS = 150  # a map that takes longer says so
RESIZE_SETTLE_MS = 40  # a resized canvas redraws once it has been still this long


class MapView(QWidget):
    gradient_map_requested = Signal(object)  # a MapSpec that needs the model's gradients, for the shown photo
    check_requested = Signal(object, object)  # the MapSpec shown, its map

    def __init__(self, state: MapState | None = None, parent=None, checkable: bool = True):
        super().__init__(parent)
        self.state = state or MapState()
        self.current_map = None  # the map drawn now
        self.map_spec_shown: MapSpec | None = None  # what current_map is
        self._memo = None  # (prediction, spec, map, extra-token share): redraws need no recompute
        self._fitted = None  # (photo, overlay) at canvas size: the compare slider only recomposes
        self.sheet = None  # the tiles shown now (explain.sheet.Sheet)
        self.computing = False
        self.jobs = MapJobs(self)
        self.jobs.finished.connect(self._on_job_done)
        self._build(checkable)
        self.state.subscribe(self._on_state_changed)
        self._update_rows()

    # ---- layout ---------------------------------------------------------------------------
    def _build(self, checkable: bool) -> None:
        self.canvas = ZoomCanvas(self.state)
        self.canvas.resized.connect(self._canvas_resized)
        self._resize_timer = QTimer(self)  # a resize redraws once it settles, on the map thread
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(RESIZE_SETTLE_MS)
        self._resize_timer.timeout.connect(lambda: self.render(in_background=True))
        self.sheet_view = SheetView()
        self.sheet_view.tile_clicked.connect(self.state.select_tile)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.sheet_view)
        self.caption = plain_label()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)  # a long class name or caption must not widen the window
        self.reading = plain_label()  # how to read the map shown, in plain words
        self.reading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reading.setWordWrap(True)
        self.reading.setStyleSheet("color: palette(dark)")
        self.legend = MapLegend()
        self.legend.setVisible(False)  # until a map is drawn

        self.compare = QSlider(Qt.Orientation.Horizontal)
        self.compare.setRange(0, 100)
        self.compare.setValue(self.state.settings.compare)
        self.compare.setToolTip("compare: drag left to uncover the photo, right to cover it with the map")
        self.compare.valueChanged.connect(lambda value: self.state.change(compare=value))
        self.compare_row = QWidget()
        row = QHBoxLayout(self.compare_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(plain_label("photo"))
        row.addWidget(self.compare, 1)
        row.addWidget(plain_label("map"))
        row.addSpacing(8)
        for text, tip, factor in (("−", "zoom out (Ctrl+wheel)", 1 / ZOOM_STEP), ("Fit", "the whole photo", 0.0),
                                  ("+", "zoom in (Ctrl+wheel; drag to move)", ZOOM_STEP)):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _=False, f=factor: self.state.zoom_at(f) if f else
                                   self.state.change(zoom=1.0, centre=(0.5, 0.5)))
            row.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.compare_row)
        layout.addWidget(self.caption)
        layout.addWidget(self.legend)
        layout.addWidget(self.reading)
        self.check_row = QWidget()  # a check is of one map: hidden in the tile views
        check_row = QHBoxLayout(self.check_row)
        check_row.setContentsMargins(0, 0, 0, 0)
        self.check = QPushButton("Can I trust this map?")
        self.check.setToolTip("opens the check: hide the parts the map calls most important, a tenth at a time, "
                              "and watch the model; a faithful map makes it change fast (unlike random parts). "
                              "It also scrambles the model and moves the photo, and can compare every kind of map")
        self.check_result = plain_label("")  # the last check's verdict on the map shown, in a few words
        self.check_result.setWordWrap(True)
        check_row.addWidget(self.check)
        check_row.addWidget(self.check_result, 1)
        layout.addWidget(self.check_row)
        self.check.clicked.connect(self._on_check_clicked)
        self.checkable = checkable

    # ---- what others call -----------------------------------------------------------------
    def set_model_shape(self, depth: int, heads: int, rollout_start_block: int = 0, has_classes: bool = True,
                        default_map: str = "rollout") -> None:
        self.state.set_model(depth, heads, rollout_start_block, has_classes, default_map)

    def show_item(self, display_image, prediction) -> None:
        """A new photo: its attentions are kept; the previous photo's class maps are dropped."""
        self.state.show(display_image, prediction)

    def clear(self, message: str = "") -> None:
        self.jobs.cancel()
        self.computing = False
        self._memo = self._fitted = self.current_map = self.map_spec_shown = self.sheet = None
        self.state.clear()
        self.canvas.clear()
        self.canvas.setText(message)
        self.caption.setText("")
        self.legend.setVisible(False)

    def spec(self) -> MapSpec | None:
        return self.state.spec()

    @property
    def prediction(self):
        return self.state.prediction

    def request_class(self, class_index: int, label: str, picked: bool = True) -> None:
        self.state.pick_class(class_index, label, picked)

    def has_class_map(self, class_index: int) -> bool:
        return self.state.has_class_map(class_index)

    def set_class_map(self, spec: MapSpec, grid_map) -> None:
        self.state.add_class_map(spec, grid_map)

    def gradient_map_failed(self, spec: MapSpec, error: str) -> None:
        self.state.class_map_failed(spec)
        if self.spec() == spec:
            self.caption.setText(f"could not compute the map: {error}")

    def show_verdict(self, spec: MapSpec, words: str) -> None:
        self.state.set_verdict(spec, words)

    def export_name(self) -> str:
        return map_pictures.export_name(self.state, self.map_spec_shown)

    def export_recipe(self, legend: bool):
        return map_pictures.export_recipe(self.state, self.current_map, self.sheet, legend)

    def tile_count(self) -> int:
        return len(self.sheet.cells) if self.sheet is not None else 0

    # ---- following the state ----------------------------------------------------------------
    def _on_state_changed(self, changed) -> None:
        if "verdict" in changed:
            self.check_result.setText(self.state.verdict)
        self._update_rows()
        if changed <= {"verdict"} or "model" in changed:
            return  # a new model: the photo shown is still the old model's until its new result comes
        if changed <= {"compare"}:
            self._compose()
        else:  # a moved zoom or pan is drawn on the map thread: a drag stays smooth
            self.render(in_background=bool(changed & {"zoom", "centre"}))

    def _update_rows(self) -> None:
        """Only what applies to the view shown is there."""
        single, s = self.state.settings.view == VIEW_SINGLE, self.state.settings
        self.compare_row.setVisible(single and s.show_overlay and self.state.photo is not None)
        self.check_row.setVisible(single and self.checkable)
        if self.compare.value() != s.compare:
            self.compare.blockSignals(True)
            self.compare.setValue(s.compare)
            self.compare.blockSignals(False)

    @Slot()
    def _on_check_clicked(self) -> None:
        if self.current_map is None or self.prediction is None or self.map_spec_shown is None:
            self.check_result.setText("show a map first")
            return
        self.check_requested.emit(self.map_spec_shown, self.current_map)

    @Slot()
    def _canvas_resized(self) -> None:
        self._resize_timer.start()

    # ---- drawing ----------------------------------------------------------------------------
    @Slot()
    def render(self, in_background: bool = False) -> None:
        """Redraw; a map not computed yet is asked of the map thread, which also fits the
        photo to the canvas and blends the map over it (tens of milliseconds for a large
        canvas, too long for the GUI thread while a batch streams in). A map already known
        is drawn here at once (a slider moved), unless `in_background` (the canvas resized).
        Never runs the model."""
        state = self.state
        if state.photo is None or state.prediction is None or not state.photo_fits_model():
            return  # nothing, or the old model's photo until the new model's result comes
        if state.settings.view != VIEW_SINGLE:
            self.reading.setText(map_pictures.TILE_READING[state.settings.view])
            prediction, view, work = state.prediction, state.settings.view, self._tiles_work()
            self._submit(lambda: ("tiles", prediction, view, *work()))  # tagged with what was asked, not what is
            return
        self.stack.setCurrentIndex(0)
        spec = state.spec()
        memo = self._memo if self._memo and self._memo[0] is state.prediction and self._memo[1] == spec else None
        if spec is None or spec.method.needs_gradients:  # gradient maps come from the model's owner
            self.jobs.cancel()
            self.computing = False
            self._draw(spec, state.class_maps.get(spec) if spec else None, None)
            if spec is None:
                self.caption.setText("click one of the classes in the results list to see its evidence")
            wanted = state.wanted_gradient_map()
            if wanted is not None:
                state.mark_asked(wanted)
                self.caption.setText(f"computing {state.describe(wanted)}…")
                self.gradient_map_requested.emit(wanted)
        elif memo and not in_background:
            self._draw(*memo[1:])
        else:
            self._request_map(spec, known=memo[2:] if memo else None)

    def _tiles_work(self):
        return map_pictures.tiles_work(self.state, self.stack.width() - 8, self.stack.height() - 40)

    def _canvas_size(self) -> tuple[int, int]:
        return self.canvas.width(), self.canvas.height()

    def _picture_key(self) -> tuple:
        """What a fitted picture depends on besides the map: it is reused only while these hold."""
        s = self.state.settings
        return self._canvas_size(), s.zoom, s.centre, s.colormap, s.opacity, s.show_overlay

    def _request_map(self, spec: MapSpec, known: tuple | None = None) -> None:
        """The map (unless `known`: (map, share)) and its picture at the canvas's size, on the map thread."""
        prediction, key = self.state.prediction, self._picture_key()
        fit_and_cover = map_pictures.fit_and_cover(self.state, self._canvas_size())

        def work():
            if known is not None:
                grid_map, share = known
            else:
                share = prediction.extra_token_share(spec) if prediction.num_prefix > 1 else None
                grid_map = prediction.map(spec)
            return "map", prediction, spec, grid_map, share, (key, fit_and_cover(grid_map))

        self._submit(work)

    def _submit(self, work) -> None:
        request = self.jobs.submit(work)
        self.computing = True
        QTimer.singleShot(SAY_COMPUTING_AFTER_MS, self, lambda: self._say_computing(request))  # dropped with the view

    def _say_computing(self, request: int) -> None:
        if self.computing and self.jobs.latest == request:
            self.caption.setText("computing the map…")

    @Slot(int, object, str)
    def _on_job_done(self, _request: int, result, error: str) -> None:
        self.computing = False
        state = self.state
        if error:
            self.caption.setText(f"could not compute the map: {error}")
        elif result[0] == "map":
            _, prediction, spec, grid_map, share, fitted = result
            self._memo = (prediction, spec, grid_map, share)
            if prediction is state.prediction and state.settings.view == VIEW_SINGLE and spec == state.spec():
                self._draw(spec, grid_map, share, fitted)
        elif result[1] is state.prediction and result[2] == state.settings.view != VIEW_SINGLE:
            _, _, _, sheet, caption = result
            self.stack.setCurrentIndex(1)
            self.caption.setText(caption)
            self.legend.show_for(state.settings.colormap, state.legend_text())
            self.sheet = sheet
            self.sheet_view.set_sheet(sheet, pil_pixmap(sheet.image))

    def _draw(self, spec: MapSpec | None, grid_map, share, fitted=None) -> None:
        """Show a map; `fitted` (key, (photo, overlay)) made on the map thread is used while
        its key (canvas size, zoom, look) still holds."""
        state = self.state
        self.current_map, self.map_spec_shown = grid_map, spec
        if fitted is not None and fitted[0] == self._picture_key():
            fitted = fitted[1]
        else:
            fitted = map_pictures.fit_and_cover(state, self._canvas_size())(grid_map)
        if grid_map is None:  # a class map not chosen or not computed yet: no colours, so no legend
            self._fitted = None
            self.legend.setVisible(False)
            self.canvas.setPixmap(pil_pixmap(fitted[0]))
            return
        shown = state.settings.show_overlay
        self._fitted = fitted
        self.caption.setText(state.describe(spec, share) if shown else
                             "the photo alone (the map is hidden: tick Show map to see it)")
        self.reading.setText(spec.method.reading if shown else "")
        if shown:
            self.legend.show_for(state.settings.colormap, state.legend_text())
        else:
            self.legend.setVisible(False)
        self._compose()

    @Slot()
    def _compose(self, *_) -> None:
        """The plain photo left of the compare line, the map right of it, as the slider's words
        say ("photo" at its left end, "map" at its right)."""
        if self._fitted is None:
            return
        photo, covered = self._fitted
        shown = self.state.settings.compare if self.state.settings.show_overlay else 100
        split = round(photo.width * (1 - shown / 100))  # where the map begins
        if split > 0:
            mixed = covered.copy()
            mixed.paste(photo.crop((0, 0, split, photo.height)), (0, 0))
            if split < photo.width:
                mixed.paste((255, 255, 255), (max(0, split - 1), 0, min(photo.width, split + 1), photo.height))
            covered = mixed
        self.canvas.setPixmap(pil_pixmap(covered))

"""The overlay view: the photo with its attention map, what the map means, and tile views.

The controls live in `map_controls` (the window puts them beside the results); the map
choices are the registry's methods (`explain.maps.METHODS`). Changing the method, block,
head, fusion, discard ratio, opacity or colormap never runs the model: the shown image's
attentions are kept and only the map is recomputed, off the GUI thread (`map_jobs`), so
the window stays responsive on a busy machine or a 1,370-token DINOv2. Only a method that
needs gradients (class evidence) needs the model, and the main window asks the worker.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vit_gui.explain.maps import MapSpec, legend_words
from vit_gui.gui.map_classes import ClassMapsMixin
from vit_gui.gui.map_controls import VIEW_SINGLE, MapControls
from vit_gui.gui.map_export import ExportRecipesMixin
from vit_gui.gui.map_jobs import MapJobs
from vit_gui.gui.map_tiles import VIEW_READING, TilesMixin
from vit_gui.gui.pictures import ImageCanvas, pil_to_qimage
from vit_gui.gui.plain import plain_label
from vit_gui.gui.tile_sheet import SheetView

SAY_COMPUTING_AFTER_MS = 150  # a map that takes longer says so
RESIZE_SETTLE_MS = 40  # a resized canvas redraws once it has been still this long
class AttentionView(ClassMapsMixin, TilesMixin, ExportRecipesMixin, QWidget):
    gradient_map_requested = Signal(object)  # a MapSpec that needs the model's gradients, for the shown image
    check_requested = Signal(object, object)  # the MapSpec shown, its map

    def __init__(self, parent=None):
        super().__init__(parent)
        self.display_image = None  # PIL, the upright image at display resolution
        self.prediction = None  # Prediction with attentions
        self.class_maps: dict[MapSpec, np.ndarray] = {}  # gradient maps (class evidence, Grad-CAM, LeGrad)
        self.class_pending: set[MapSpec] = set()  # asked of the worker, not back yet
        self.class_labels: dict[int, str] = {}
        self.class_index: int | None = None
        self.follow_top = True  # class evidence follows each image's top class until one is picked
        self.current_map: np.ndarray | None = None  # the map drawn now
        self.map_spec_shown: MapSpec | None = None  # what current_map is
        self.depth, self.heads = 12, 12
        self._memo = None  # (prediction, spec, map, extra-token share): redraws need no recompute
        self._fitted = None  # (photo, overlay) at canvas size: the compare slider only recomposes
        self.sheet = None  # the tiles shown now (explain.sheet.Sheet)
        self.jobs = MapJobs(self)
        self.jobs.finished.connect(self._on_job_done)
        self.computing = False
        self.controls = MapControls()
        c = self.controls  # the controls, by the names the rest of the app uses
        self.mode, self.view, self.block, self.head, self.fusion = c.mode, c.view, c.block, c.head, c.fusion
        self.start_block, self.discard, self.discard_label = c.start_block, c.discard, c.discard_label
        self.opacity, self.colormap, self.show_overlay = c.opacity, c.colormap, c.show_overlay
        self.parameter_widgets = c.parameter_widgets
        self._build()

    # ---- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.canvas = ImageCanvas()
        self.canvas.resized.connect(self._canvas_resized)
        self._resize_timer = QTimer(self)  # a resize redraws once it settles, on the map thread
        self._resize_timer.setSingleShot(True)
        self._resize_timer.setInterval(RESIZE_SETTLE_MS)
        self._resize_timer.timeout.connect(lambda: self.render(in_background=True))
        self.sheet_view = SheetView()
        self.sheet_view.tile_clicked.connect(self.select_tile)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.sheet_view)
        self.caption = plain_label()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reading = plain_label()  # how to read the map shown, in plain words
        self.reading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.reading.setWordWrap(True)
        self.reading.setStyleSheet("color: palette(dark)")

        self.compare = QSlider(Qt.Orientation.Horizontal)
        self.compare.setRange(0, 100)
        self.compare.setValue(100)
        self.compare.setToolTip("compare: drag left to uncover the photo, right to cover it with the map")
        self.compare.valueChanged.connect(self._compose)
        self.compare_row = QWidget()
        compare_layout = QHBoxLayout(self.compare_row)
        compare_layout.setContentsMargins(0, 0, 0, 0)
        compare_layout.addWidget(plain_label("Compare:  photo"))
        compare_layout.addWidget(self.compare, 1)
        compare_layout.addWidget(plain_label("map"))

        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.compare_row)
        layout.addWidget(self.caption)
        legend_row = QHBoxLayout()  # what the colours mean, in the colours shown
        self.legend_low = plain_label("less attention")
        self.legend = QLabel()
        self.legend.setToolTip("the map's colours, from the least to the most attention in this photo "
                               "(each map is scaled to its own strongest patch)")
        self.legend_high = plain_label("more")
        legend_row.addStretch()
        legend_row.addWidget(self.legend_low)
        legend_row.addWidget(self.legend)
        legend_row.addWidget(self.legend_high)
        legend_row.addStretch()
        layout.addLayout(legend_row)
        self._hide_legend()  # until a map is drawn
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
        self._checked_spec = None

        self.set_model_shape(12, 12)
        self.controls.setEnabled(False)  # until the first photo is shown
        for signal in self.controls.signals:
            signal.connect(self._on_control_changed)
        self._update_enabled()

    def set_model_shape(self, depth: int, heads: int, rollout_start_block: int = 0, has_classes: bool = True,
                        default_map: str = "rollout") -> None:
        """Block and head selectors follow the loaded model; the rollout starts where the model
        advises; the maps of a class are offered only by a model with classes; a model whose
        default map is class evidence opens on it, for each photo's top class."""
        self.depth, self.heads = depth, heads
        self.controls.set_model_shape(depth, heads, rollout_start_block)
        self.controls.offer_class_maps(has_classes)
        if has_classes and default_map == "class":
            self.mode.blockSignals(True)
            self.set_method("class")
            self.mode.blockSignals(False)
            self.class_index, self.follow_top = -1, True  # each photo's top class, when it comes

    # ---- content ----------------------------------------------------------------------------
    def show_item(self, display_image, prediction) -> None:
        """A new image: keep its attentions; class maps of the previous image are dropped."""
        self.display_image, self.prediction = display_image, prediction
        self.controls.setEnabled(True)
        self.clear_check()
        self.class_maps.clear()
        self.class_pending.clear()
        if self.method.needs_gradients and self.class_index is not None and prediction.top:
            # class evidence stays chosen: for the new image's top class, or the class the user picked
            top = prediction.top[0]
            index, label = ((top.index, top.label) if self.follow_top else
                            (self.class_index, self.class_labels.get(self.class_index, str(self.class_index))))
            self.stack.setCurrentIndex(0)
            self._draw(None, None, None)  # the new photo at once, its evidence when it comes
            self.request_class(index, label, picked=not self.follow_top)
            return
        self.class_index = None
        if self.method.needs_gradients:
            self.set_method("rollout")
        self.render()

    def clear(self, message: str = "") -> None:
        self.jobs.cancel()
        self.computing = False
        self.display_image = self.prediction = self._memo = None
        self.controls.setEnabled(False)  # nothing to choose a map of yet
        self.current_map = self.map_spec_shown = None
        self.class_maps.clear()
        self.canvas.clear()
        self.canvas.setText(message)
        self.caption.setText("")
        self._hide_legend()

    def _hide_legend(self) -> None:
        """No map on screen (a photo waiting, a class map on its way): no colour bar either."""
        for widget in (self.legend, self.legend_low, self.legend_high):
            widget.setVisible(False)

    # ---- the map ----------------------------------------------------------------------------
    @property
    def method(self):
        return self.controls.method

    def set_method(self, name: str) -> None:
        self.controls.set_method(name)

    def spec(self) -> MapSpec | None:
        """The MapSpec the controls describe (block and head 0-based); None while a class map
        waits for the user to pick a class."""
        values = {"fusion": self.controls.fusion_name(), "discard_ratio": self.discard.value() / 100,
                  "start_block": self.start_block.value() - 1, "block": self.block.value() - 1,
                  "head": self.head.currentIndex(), "class_index": self.class_index}
        method = self.method
        if "class_index" in method.parameters and self.class_index is None:
            return None
        return MapSpec(method.name, **{name: values[name] for name in method.parameters})

    def _describe(self, spec, share: float | None = None) -> str:
        text = spec.describe(self.depth, self.class_labels.get(spec.class_index, ""))
        if share is not None:
            text += f" — {share:.0%} of the class token's attention went to the model's extra tokens (not drawn)"
        return text

    @Slot()
    def update_legend(self, *_) -> None:
        """The colour bar: the chosen colormap, left (least) to right (most). Drawn with the
        first map (matplotlib is not imported before the window is up)."""
        from vit_gui.explain.overlay import colorize

        ramp = colorize(np.tile(np.linspace(0.0, 1.0, 200), (12, 1)), self.colormap.currentText())
        self.legend.setPixmap(QPixmap.fromImage(QImage(np.ascontiguousarray(ramp).data, 200, 12, 600,
                                                       QImage.Format.Format_RGB888).copy()))
        low, high = self.legend_text()
        self.legend_low.setText(low)
        self.legend_high.setText(high)

    def legend_text(self) -> tuple[str, str]:
        """The colour bar's two ends for what is shown: a class map names its class."""
        single = self.view.currentIndex() == VIEW_SINGLE
        label = self.class_labels.get(self.class_index, "") if self.class_index is not None else ""
        return legend_words(self.method, label) if single else ("less attention", "more attention")

    # ---- "Can I trust this map?" --------------------------------------------------------------
    @Slot()
    def _on_check_clicked(self) -> None:
        if self.current_map is None or self.prediction is None or self.map_spec_shown is None:
            self.check_result.setText("show a map first")
            return
        self._checked_spec = self.map_spec_shown
        self.check_requested.emit(self.map_spec_shown, self.current_map)

    def show_verdict(self, spec: MapSpec, words: str) -> None:
        """The verdict of a check, beside the button, while the map it judged is shown."""
        if spec == self.spec():
            self._checked_spec = spec
            self.check_result.setText(words)

    def clear_check(self) -> None:
        self._checked_spec = None
        self.check_result.setText("")

    @Slot()
    def _on_control_changed(self, *_):
        if self._checked_spec is not None and self.spec() != self._checked_spec:
            self.clear_check()  # the verdict was of another map (opacity or colours change nothing)
        if self.method.needs_gradients and self.class_index is None:
            if self.prediction is not None and self.prediction.top:  # the top class, until another is picked
                self.request_class(self.prediction.top[0].index, self.prediction.top[0].label, picked=False)
                return
            self.caption.setText("this model has no classes yet, so there is no class evidence to show"
                                 if self.prediction is not None else
                                 "click one of the classes in the results list to see its evidence")
        self._update_enabled()
        self.render()

    def _update_enabled(self) -> None:
        """Only what applies to the view and map shown is live (see map_controls)."""
        self.controls.update_enabled()
        single = self.view.currentIndex() == VIEW_SINGLE
        self.compare_row.setVisible(single and self.show_overlay.isChecked())
        self.check_row.setVisible(single)

    @Slot()
    def _canvas_resized(self) -> None:
        self._resize_timer.start()

    @Slot()
    def render(self, in_background: bool = False) -> None:
        """Redraw; a map not computed yet is asked of the map thread, which also fits the
        photo to the canvas and blends the map over it (tens of milliseconds for a large
        canvas, too long for the GUI thread while a batch streams in). A map already known
        is drawn here at once (a slider moved), unless `in_background` (the canvas resized).
        Never runs the model."""
        if self.display_image is None or self.prediction is None:
            return
        if self.view.currentIndex() != VIEW_SINGLE:
            self.reading.setText(VIEW_READING[self.view.currentIndex()])
            self._request_tiles()
            return
        self.stack.setCurrentIndex(0)
        spec = self.spec()
        if spec is None or spec.method.needs_gradients:  # gradient maps come from the worker
            self.jobs.cancel()
            self.computing = False
            grid_map = self.class_maps.get(spec) if spec else None
            self._draw(spec, grid_map, None)
            if spec is not None and grid_map is None:
                self._ask_gradient_map(spec)
        elif self._memo and self._memo[0] is self.prediction and self._memo[1] == spec and not in_background:
            self._draw(*self._memo[1:])
        elif self._memo and self._memo[0] is self.prediction and self._memo[1] == spec:
            self._request_map(spec, known=self._memo[2:])
        else:
            self._request_map(spec)

    def _request_map(self, spec: MapSpec, known: tuple | None = None) -> None:
        """The map (unless `known`: (map, share)) and its picture at the canvas's size, on the map thread."""
        prediction, fit_and_cover = self.prediction, self._fit_and_cover()

        def work():
            if known is not None:
                grid_map, share = known
            else:
                share = prediction.extra_token_share(spec) if prediction.num_prefix > 1 else None
                grid_map = prediction.map(spec)
            return "map", prediction, spec, grid_map, share, fit_and_cover(grid_map)

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
        if error:
            self.caption.setText(f"could not compute the map: {error}")
        elif result[0] == "map":
            _, prediction, spec, grid_map, share, fitted = result
            self._memo = (prediction, spec, grid_map, share)
            if prediction is self.prediction and self.view.currentIndex() == VIEW_SINGLE and spec == self.spec():
                self._draw(spec, grid_map, share, fitted)
        elif result[1] is self.prediction and self.view.currentIndex() != VIEW_SINGLE:
            self._show_tiles(*result[2:])

    def _draw(self, spec: MapSpec | None, grid_map, share, fitted=None) -> None:
        """Show a map; `fitted` (photo, overlay) made on the map thread is used while the
        canvas is still the size it was made for."""
        self.current_map, self.map_spec_shown = grid_map, spec
        self.update_legend()  # its words follow the map (attention, or evidence for a class)
        if fitted is None or fitted[0].size != self._fit_size(self.display_image):
            fitted = self._fit_and_cover()(grid_map)
        if grid_map is None:  # a class map not chosen or not computed yet: no colours, so no legend
            self._fitted = None
            self._hide_legend()
            self.canvas.setPixmap(QPixmap.fromImage(pil_to_qimage(fitted[0])))
            return
        shown = self.show_overlay.isChecked()
        # the map over the photo already fitted to the canvas: one resize, and the compare
        # split shows the same photo on both sides of its line
        self._fitted = fitted
        # new words or a legend shown relayout the view, and a resized canvas draws again
        # (maybe another map): compose this one only if it is still the current one
        self.caption.setText(self._describe(spec, share) if shown else
                             "the photo alone (the map is hidden: tick Show map to see it)")
        self.reading.setText(spec.method.reading if shown else "")
        for widget in (self.legend, self.legend_low, self.legend_high):
            if widget.isHidden() == shown:
                widget.setVisible(shown)
        if self.current_map is grid_map:
            self._compose()

    @Slot()
    def _compose(self, *_) -> None:
        """The plain photo left of the compare line, the map right of it, as the slider's words
        say ("photo" at its left end, "map" at its right)."""
        if self._fitted is None:
            return
        photo, covered = self._fitted
        shown = self.compare.value() if self.show_overlay.isChecked() else 100
        split = round(photo.width * (1 - shown / 100))  # where the map begins
        if split > 0:
            mixed = covered.copy()
            mixed.paste(photo.crop((0, 0, split, photo.height)), (0, 0))
            if split < photo.width:
                mixed.paste((255, 255, 255), (max(0, split - 1), 0, min(photo.width, split + 1), photo.height))
            covered = mixed
        self.canvas.setPixmap(QPixmap.fromImage(pil_to_qimage(covered)))

"""The overlay view: the image with its attention map, and the controls that pick the map.

The map choices are the registry's methods (`explain.maps.METHODS`), and each control is
live only when the chosen method reads its parameter. Changing the method, block, head,
fusion, discard ratio, opacity or colormap never runs the model: the shown image's
attentions are kept and only the map is recomputed, off the GUI thread (`map_jobs`), so
the window stays responsive on a busy machine or a 1,370-token DINOv2. Only a method that
needs gradients (class evidence) needs the model, and the main window asks the worker.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vit_gui.explain.maps import METHODS, MapSpec
from vit_gui.gui.map_jobs import MapJobs
from vit_gui.gui.plain import plain_label

COLORMAPS = ["inferno", "jet", "turbo", "viridis", "magma", "plasma", "hot", "coolwarm", "cividis", "gray"]
VIEW_SINGLE, VIEW_BLOCKS, VIEW_HEADS = range(3)
TILE_SIDE = 150
SAY_COMPUTING_AFTER_MS = 150  # a map that takes longer says so


def pil_to_qimage(image) -> QImage:
    image = image.convert("RGB")
    data = image.tobytes()
    return QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888).copy()


class ImageCanvas(QLabel):
    """Shows one picture scaled to fit, and says when it has nothing to show."""

    resized = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)  # messages name files and errors
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self.resized.emit()


class AttentionView(QWidget):
    class_map_requested = Signal(int)  # class index, for the shown image
    check_requested = Signal(object, int)  # the shown map, the explained class (-1: the top-1)
    check_cancelled = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.display_image = None  # PIL, the upright image at display resolution
        self.prediction = None  # Prediction with attentions
        self.class_maps: dict[int, np.ndarray] = {}
        self.class_pending: set[int] = set()  # asked of the worker, not back yet
        self.class_labels: dict[int, str] = {}
        self.class_index: int | None = None
        self.current_map: np.ndarray | None = None  # the map drawn now
        self.map_spec_shown: MapSpec | None = None  # what current_map is
        self.depth, self.heads = 12, 12
        self._memo = None  # (prediction, spec, map, extra-token share): redraws need no recompute
        self.jobs = MapJobs(self)
        self.jobs.finished.connect(self._on_job_done)
        self.computing = False
        self._build()

    # ---- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.canvas = ImageCanvas()
        self.canvas.resized.connect(self.render)
        self.tiles = QWidget()
        self.tile_layout = QGridLayout(self.tiles)
        tile_scroll = QScrollArea()
        tile_scroll.setWidgetResizable(True)
        tile_scroll.setWidget(self.tiles)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(tile_scroll)
        self.caption = plain_label()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.mode = QComboBox()
        for method in METHODS.values():
            self.mode.addItem(method.title, method.name)
            self.mode.setItemData(self.mode.count() - 1, method.description, Qt.ItemDataRole.ToolTipRole)
        self.mode.setToolTip("<br>".join(f"<b>{m.title}</b>: {m.description}" for m in METHODS.values()))
        self.block = QSpinBox()
        self.block.setPrefix("block ")
        self.head = QComboBox()
        self.fusion = QComboBox()
        self.fusion.addItems(["mean", "max", "min"])
        self.fusion.setToolTip("how the heads of a block are combined")
        self.start_block = QSpinBox()
        self.start_block.setPrefix("from block ")
        self.start_block.setToolTip("rollout: the first block multiplied in. Some models (DINOv2) send the class "
                                    "token to one background patch in block 1; starting at block 2 shows the object")
        self.discard = QSlider(Qt.Orientation.Horizontal)
        self.discard.setRange(0, 95)
        self.discard.setToolTip("rollout: ignore this fraction of the weakest attention links")
        self.discard_label = QLabel()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.show_overlay = QCheckBox("Show map")
        self.show_overlay.setChecked(True)
        self.view = QComboBox()
        self.view.addItems(["Single map", "All blocks (tiles)", "All heads of this block (tiles)"])

        discard_row = QHBoxLayout()
        discard_row.addWidget(self.discard)
        discard_row.addWidget(self.discard_label)
        where = QHBoxLayout()
        where.addWidget(self.block)
        where.addWidget(self.head)
        form = QFormLayout()
        form.addRow("Map:", self.mode)
        form.addRow("Rollout:", self.start_block)
        form.addRow("Layer:", where)
        form.addRow("Head fusion:", self.fusion)
        form.addRow("Discard:", discard_row)
        form.addRow("Opacity:", self.opacity)
        form.addRow("Colours:", self.colormap)
        form.addRow("View:", self.view)
        form.addRow("", self.show_overlay)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
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
        check_row = QHBoxLayout()
        self.check = QPushButton("Check this map")
        self.check.setToolTip("Can I trust this map? Hide the patches it calls most important, a tenth at a time, "
                              "and watch the model's confidence: a faithful map makes it fall fast (unlike a random "
                              "order); hiding the least important first should change little")
        self.check_result = plain_label("")
        self.check_result.setWordWrap(True)
        self.check_plot = QLabel()
        check_row.addWidget(self.check)
        check_row.addWidget(self.check_result, 1)
        layout.addLayout(check_row)
        layout.addWidget(self.check_plot)
        self.check_plot.setVisible(False)
        self.check.clicked.connect(self._on_check_clicked)
        self.checking, self._checked_spec = False, None
        layout.addLayout(form)

        # the control that sets each MapSpec parameter (class_index comes from the results list)
        self.parameter_widgets = {"fusion": (self.fusion,), "discard_ratio": (self.discard, self.discard_label),
                                  "start_block": (self.start_block,), "block": (self.block,), "head": (self.head,)}
        self.set_model_shape(12, 12)
        for signal in (self.mode.currentIndexChanged, self.block.valueChanged, self.start_block.valueChanged,
                       self.head.currentIndexChanged,
                       self.fusion.currentIndexChanged, self.discard.valueChanged, self.opacity.valueChanged,
                       self.colormap.currentIndexChanged, self.show_overlay.toggled, self.view.currentIndexChanged):
            signal.connect(self._on_control_changed)
        self._update_enabled()

    def set_model_shape(self, depth: int, heads: int, rollout_start_block: int = 0) -> None:
        """Block and head selectors follow the loaded model; the rollout starts where the model advises."""
        self.depth, self.heads = depth, heads
        self.block.blockSignals(True)
        self.head.blockSignals(True)
        self.start_block.blockSignals(True)
        self.start_block.setRange(1, depth)
        self.start_block.setValue(rollout_start_block + 1)
        self.start_block.blockSignals(False)
        self.block.setRange(1, depth)
        current_head = self.head.currentIndex()
        self.head.clear()
        self.head.addItems([f"head {h}" for h in range(1, heads + 1)])
        self.head.setCurrentIndex(current_head if 0 <= current_head < heads else 0)
        self.block.blockSignals(False)
        self.head.blockSignals(False)

    # ---- content ----------------------------------------------------------------------------
    def show_item(self, display_image, prediction) -> None:
        """A new image: keep its attentions; class maps of the previous image are dropped."""
        self.display_image, self.prediction = display_image, prediction
        self.clear_check()
        self.class_maps.clear()
        self.class_pending.clear()
        if self.method.needs_gradients and self.class_index is not None and prediction.probs is not None:
            # the same class's evidence on the new image: the user's choice of map is kept
            self.stack.setCurrentIndex(0)
            self._draw(None, None, None)  # the new photo at once, its evidence when it comes
            self.request_class(self.class_index, self.class_labels.get(self.class_index, str(self.class_index)))
            return
        self.class_index = None
        if self.method.needs_gradients:
            self.set_method("rollout")
        self.render()

    def clear(self, message: str = "") -> None:
        self.jobs.cancel()
        self.computing = False
        self.display_image = self.prediction = self._memo = None
        self.current_map = self.map_spec_shown = None
        self.class_maps.clear()
        self.canvas.clear()
        self.canvas.setText(message)
        self.caption.setText("")

    def request_class(self, class_index: int, label: str) -> None:
        """Switch to the class-specific map of `class_index`, asking for it if needed."""
        self.class_labels[class_index] = label
        self.class_index = class_index
        self.mode.blockSignals(True)
        self.set_method("class")
        self.mode.blockSignals(False)
        if class_index in self.class_maps:
            self.render()
        elif class_index not in self.class_pending:  # a click and an activation may both arrive
            self.class_pending.add(class_index)
            self.current_map = None
            self.caption.setText(f"computing the evidence for “{label}”…")
            self.class_map_requested.emit(class_index)
        self._update_enabled()

    def set_class_map(self, class_index: int, grid_map: np.ndarray) -> None:
        self.class_pending.discard(class_index)
        self.class_maps[class_index] = grid_map
        if self.class_index == class_index:
            self.render()

    # ---- the map ----------------------------------------------------------------------------
    @property
    def method(self):
        return METHODS[self.mode.currentData()]

    def set_method(self, name: str) -> None:
        self.mode.setCurrentIndex(self.mode.findData(name))

    def spec(self) -> MapSpec | None:
        """The MapSpec the controls describe (block and head 0-based); None while a class map
        waits for the user to pick a class."""
        values = {"fusion": self.fusion.currentText(), "discard_ratio": self.discard.value() / 100,
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
        import matplotlib

        ramp = matplotlib.colormaps[self.colormap.currentText()](np.tile(np.linspace(0.0, 1.0, 200), (12, 1)),
                                                                 bytes=True)[..., :3]
        self.legend.setPixmap(QPixmap.fromImage(QImage(np.ascontiguousarray(ramp).data, 200, 12, 600,
                                                       QImage.Format.Format_RGB888).copy()))
        evidence = self.method.needs_gradients
        self.legend_low.setText("less evidence" if evidence else "less attention")
        self.legend_high.setText("more evidence for the class" if evidence else "more attention")

    # ---- "Check this map" ---------------------------------------------------------------------
    @Slot()
    def _on_check_clicked(self) -> None:
        if self.checking:
            self.check_cancelled.emit()
            self.check_result.setText("stopping the check…")
            return
        if self.current_map is None or self.prediction is None:
            self.check_result.setText("show a map first")
            return
        if self.prediction.probs is None:
            self.check_result.setText("this model has no classes yet, so there is no confidence to follow")
            return
        spec = self.map_spec_shown
        explained = spec.class_index if spec is not None and spec.method.needs_gradients else -1
        self.checking, self._checked_spec = True, self.spec()
        self.check.setText("Cancel check")
        self.check_result.setText("checking: the model runs on the photo with patches hidden…")
        self.check_requested.emit(self.current_map, explained)

    def clear_check(self) -> None:
        if self.checking:
            self.check_cancelled.emit()
        self.checking = False
        self.check.setText("Check this map")
        self.check_result.setText("")
        self.check_plot.setVisible(False)

    def show_check(self, result, error: str) -> None:
        self.checking = False
        self.check.setText("Check this map")
        if result is None:
            self.check_result.setText(f"not checked: {error}")
            return
        from vit_gui.gui.teach_window import figure_pixmap

        self.check_result.setText(verdict(result))
        self.check_plot.setPixmap(figure_pixmap(lambda figure: draw_check(figure, result), size=(5.2, 2.4)))
        self.check_plot.setVisible(True)

    @Slot()
    def _on_control_changed(self, *_):
        if (self.checking or self.check_plot.isVisible()) and self.spec() != self._checked_spec:
            self.clear_check()  # the check was of another map (opacity or colours change nothing)
        self.discard_label.setText(f"{self.discard.value()}%")
        if self.prediction is not None:
            self.update_legend()
        if self.method.needs_gradients and self.class_index is None:
            self.caption.setText("click one of the classes in the results list to see its evidence")
        self._update_enabled()
        self.render()

    def _update_enabled(self) -> None:
        """A control is live only when the chosen method reads its parameter."""
        parameters = self.method.parameters
        for name, widgets in self.parameter_widgets.items():
            for widget in widgets:
                widget.setEnabled(name in parameters)
        self.discard_label.setText(f"{self.discard.value()}%")

    @Slot()
    def render(self) -> None:
        """Redraw; a map not computed yet is asked of the map thread. Never runs the model."""
        if self.display_image is None or self.prediction is None:
            return
        if self.view.currentIndex() != VIEW_SINGLE:
            self._request_tiles()
            return
        self.stack.setCurrentIndex(0)
        spec = self.spec()
        if spec is None or spec.method.needs_gradients:  # class maps come from the worker
            self.jobs.cancel()
            self.computing = False
            self._draw(spec, self.class_maps.get(spec.class_index) if spec else None, None)
        elif self._memo and self._memo[0] is self.prediction and self._memo[1] == spec:
            self._draw(*self._memo[1:])
        else:
            self._request_map(spec)

    def _request_map(self, spec: MapSpec) -> None:
        prediction = self.prediction

        def work():
            share = prediction.extra_token_share(spec) if prediction.num_prefix > 1 else None
            return "map", prediction, spec, prediction.map(spec), share

        self._submit(work)

    def _submit(self, work) -> None:
        request = self.jobs.submit(work)
        self.computing = True
        QTimer.singleShot(SAY_COMPUTING_AFTER_MS, lambda: self._say_computing(request))

    def _say_computing(self, request: int) -> None:
        if self.computing and self.jobs.latest == request:
            self.caption.setText("computing the map…")

    @Slot(int, object, str)
    def _on_job_done(self, _request: int, result, error: str) -> None:
        self.computing = False
        if error:
            self.caption.setText(f"could not compute the map: {error}")
        elif result[0] == "map":
            _, prediction, spec, grid_map, share = result
            self._memo = (prediction, spec, grid_map, share)
            if prediction is self.prediction and self.view.currentIndex() == VIEW_SINGLE:
                self._draw(spec, grid_map, share)
        elif result[1] is self.prediction and self.view.currentIndex() != VIEW_SINGLE:
            self._show_tiles(*result[2:])

    def _draw(self, spec: MapSpec | None, grid_map, share) -> None:
        self.current_map, self.map_spec_shown = grid_map, spec
        if self.legend.pixmap().isNull():
            self.update_legend()
        if grid_map is None:  # a class map not chosen or not computed yet
            self.canvas.setPixmap(QPixmap.fromImage(pil_to_qimage(self._fit(self.display_image))))
        else:
            self.caption.setText(self._describe(spec, share))
            self.canvas.setPixmap(QPixmap.fromImage(pil_to_qimage(self.overlay_image(self.display_image, fit=True))))

    def overlay_image(self, image, fit: bool = False):
        """`image` (the display image, or the full-size original for export) with the current map."""
        return self.overlay_recipe()(image, self._fit(image).size if fit else image.size)

    def overlay_recipe(self):
        """A function (image, size) -> overlay with the map and look shown now: it holds no
        widget, so another thread can run it (a full-size export)."""
        from vit_gui.explain.overlay import overlay

        grid_map, geometry, colormap = self.current_map, self.prediction.geometry, self.colormap.currentText()
        opacity = self.opacity.value() / 100 if self.show_overlay.isChecked() else 0.0
        return lambda image, size: overlay(image, grid_map, geometry, colormap, opacity, size=size)

    def _fit(self, image):
        """The image scaled to fill the canvas, keeping its aspect ratio."""
        box = self.canvas.size()
        scale = min(box.width() / image.width, box.height() / image.height)
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        return image if size == image.size else image.resize(size)

    # ---- tiles ------------------------------------------------------------------------------
    def _request_tiles(self) -> None:
        """Every block's (or every head's) map as small overlays, computed on the map thread."""
        from vit_gui.explain import rollout
        from vit_gui.explain.overlay import overlay

        prediction, blocks_view = self.prediction, self.view.currentIndex() == VIEW_BLOCKS
        fusion, block = self.fusion.currentText(), self.block.value() - 1
        colormap, opacity = self.colormap.currentText(), max(self.opacity.value() / 100, 0.35)
        small = self.display_image.copy()
        small.thumbnail((TILE_SIDE, TILE_SIDE))

        def work():
            attn, grid, prefix = prediction.attentions, prediction.grid, prediction.num_prefix
            if blocks_view:
                maps = rollout.block_maps(attn, grid, fusion, prefix)
                names = [f"block {i + 1}" for i in range(len(maps))]
                caption = f"every block's attention ({fusion} of heads): click one"
            else:
                maps = rollout.head_maps(attn, grid, block, prefix)
                names = [f"head {i + 1}" for i in range(len(maps))]
                caption = f"every head of block {block + 1}: click one"
            pictures = [overlay(small, m, prediction.geometry, colormap, opacity, size=small.size) for m in maps]
            return "tiles", prediction, names, pictures, caption

        self._submit(work)

    def _show_tiles(self, names, pictures, caption) -> None:
        self.stack.setCurrentIndex(1)
        self.caption.setText(caption)
        while self.tile_layout.count():
            self.tile_layout.takeAt(0).widget().deleteLater()
        columns = max(1, min(6, self.stack.width() // (TILE_SIDE + 16)))
        for i, (picture, name) in enumerate(zip(pictures, names)):
            tile = QToolButton()
            tile.setIcon(QIcon(QPixmap.fromImage(pil_to_qimage(picture))))
            tile.setIconSize(QSize(*picture.size))
            tile.setText(name)
            tile.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            tile.clicked.connect(lambda _=False, index=i: self.select_tile(index))
            self.tile_layout.addWidget(tile, i // columns, i % columns)

    def tile_count(self) -> int:
        return self.tile_layout.count()

    @Slot(int)
    def select_tile(self, index: int) -> None:
        """A tile was clicked: show that block (or head of this block) as the single map."""
        heads_view = self.view.currentIndex() == VIEW_HEADS
        for widget in (self.mode, self.block, self.head, self.view):
            widget.blockSignals(True)
        if heads_view:
            self.set_method("head")
            self.head.setCurrentIndex(index)
        else:
            self.set_method("block")
            self.block.setValue(index + 1)
        self.view.setCurrentIndex(VIEW_SINGLE)
        for widget in (self.mode, self.block, self.head, self.view):
            widget.blockSignals(False)
        self._update_enabled()
        self.render()


def verdict(result) -> str:
    """The check in one sentence a non-programmer can act on."""
    gap = result.random.auc - result.deletion.auc if result.random is not None else 0.0
    if gap > 0.1:
        words = "the map points at what the model used: hiding its top patches drops the confidence much faster than hiding random ones"
    elif gap > 0.02:
        words = "the map is somewhat faithful: its top patches matter a little more than random ones"
    else:
        words = "careful: hiding the map's top patches hurts no more than hiding random ones, so the map may not show what the model used"
    random = f", random {result.random.auc:.2f}" if result.random is not None else ""
    return (f"{words}. Areas: deletion {result.deletion.auc:.2f} (lower is better{random}), "
            f"insertion {result.insertion.auc:.2f} (higher is better).")


def draw_check(figure, result) -> None:
    axes = figure.subplots()
    percent = result.deletion.fractions * 100
    axes.plot(percent, result.deletion.probs, "o-", color="#c0392b",
              label=f"most important hidden first ({result.deletion.auc:.2f})")
    axes.plot(percent, result.insertion.probs, "s-", color="#2471a3",
              label=f"least important hidden first ({result.insertion.auc:.2f})")
    if result.random is not None:
        axes.plot(percent, result.random.probs, "--", color="gray", label=f"random order ({result.random.auc:.2f})")
    axes.set_xlabel("% of the photo's patches hidden")
    axes.set_ylabel("confidence")
    axes.set_ylim(0, 1.02)
    axes.legend(fontsize=7, loc="upper right")

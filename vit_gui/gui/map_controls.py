"""The controls that choose a map and how it looks, in plain words.

A control is live only when what is shown reads it: the chosen map's parameters in the
one-map view (the registry says which), the head fusion for every block's maps, the block
for every head of one block, only the look (colours, opacity) in the atlas.

The controls edit a `MapState` and show it: a widget moved changes the state, a state
changed elsewhere (a tile clicked, a class picked, a linked view) moves the widgets.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
)

from vit_gui.explain.maps import METHODS
from vit_gui.map_state import VIEW_SINGLE, VIEWS, MapState

COLORMAPS = ["inferno", "jet", "turbo", "viridis", "magma", "plasma", "hot", "coolwarm", "cividis", "gray"]


class MapControls(QGroupBox):
    def __init__(self, state: MapState, parent=None):
        super().__init__("Map", parent)
        self.state = state
        self.mode = QComboBox()
        for method in METHODS.values():
            self.mode.addItem(method.title, method.name)
            self.mode.setItemData(self.mode.count() - 1, method.description, Qt.ItemDataRole.ToolTipRole)
        self.mode.setToolTip("what the map shows:<br>" + "<br>".join(
            f"<b>{m.title}</b>: {m.description}" for m in METHODS.values()))
        self.view = QComboBox()
        self.view.addItems(VIEWS)
        self.view.setToolTip("one large map, or many small ones side by side to compare layers and heads; "
                             "click a small map to see it large")
        self.start_block = QSpinBox()
        self.start_block.setPrefix("block ")
        self.start_block.setToolTip("the first layer (block) the map follows (rollout's and LeGrad's start block). "
                                    "Some models (DINOv2) send the summary token to one background patch in block 1; "
                                    "starting at block 2 shows the object")
        self.block = QSpinBox()
        self.block.setPrefix("block ")
        self.block.setToolTip("which layer of the model (a block): 1 is nearest the pixels, the last is nearest "
                              "the answer")
        self.head = QComboBox()
        self.head.setToolTip("each layer looks at the photo in several ways at once; a head is one of them")
        self.fusion = QComboBox()
        for words, name in (("their average", "mean"), ("where any head looked", "max"),
                            ("where all heads agree", "min")):
            self.fusion.addItem(words, name)
        self.fusion.setToolTip("how a layer's heads become one map (head fusion): their average (mean), where any "
                               "head looked (max), or where all heads agree (min)")
        self.discard = QSlider(Qt.Orientation.Horizontal)
        self.discard.setRange(0, 95)
        self.discard.setToolTip("rollout: ignore this share of the weakest attention links, which sharpens the "
                                "map (the 'discard ratio' of Abnar & Zuidema 2020)")
        self.discard_label = QLabel()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("how strongly the map's colours cover the photo")
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.setToolTip("the colour scale; the bar under the picture says which end means more")
        self.show_overlay = QCheckBox("Show map")
        self.show_overlay.setChecked(True)
        self.show_overlay.setToolTip("untick to see the photo alone")

        discard_row = QHBoxLayout()
        discard_row.addWidget(self.discard)
        discard_row.addWidget(self.discard_label)
        where = QHBoxLayout()
        where.addWidget(self.block)
        where.addWidget(self.head)
        form = QFormLayout(self)
        form.addRow("Map:", self.mode)
        form.addRow("View:", self.view)
        form.addRow("Follow from:", self.start_block)
        form.addRow("Layer:", where)
        form.addRow("Combine heads:", self.fusion)
        form.addRow("Ignore weakest:", discard_row)
        form.addRow("Opacity:", self.opacity)
        form.addRow("Colours:", self.colormap)
        form.addRow("", self.show_overlay)
        # the control that sets each MapSpec parameter (class_index comes from the results list)
        self.parameter_widgets = {"fusion": (self.fusion,), "discard_ratio": (self.discard, self.discard_label),
                                  "start_block": (self.start_block,), "block": (self.block,), "head": (self.head,)}
        self._showing = False  # the widgets are being set from the state: not a user's change
        for signal in (self.mode.currentIndexChanged, self.block.valueChanged, self.start_block.valueChanged,
                       self.head.currentIndexChanged, self.fusion.currentIndexChanged, self.discard.valueChanged,
                       self.opacity.valueChanged, self.colormap.currentIndexChanged, self.show_overlay.toggled,
                       self.view.currentIndexChanged):
            signal.connect(self._on_widget_changed)
        state.subscribe(self._on_state_changed)
        self._on_state_changed(frozenset({"model"}))

    def detach(self) -> None:
        """Stop following the state (before these controls go: a state outlives them)."""
        self.state.unsubscribe(self._on_state_changed)

    def _on_widget_changed(self, *_) -> None:
        if self._showing:
            return
        self.state.change(method=self.mode.currentData(), view=self.view.currentIndex(),
                          block=self.block.value() - 1, head=max(0, self.head.currentIndex()),
                          start_block=self.start_block.value() - 1, fusion=self.fusion.currentData(),
                          discard_ratio=self.discard.value() / 100, opacity=self.opacity.value() / 100,
                          colormap=self.colormap.currentText(), show_overlay=self.show_overlay.isChecked())

    def _on_state_changed(self, changed) -> None:
        """Show the state: every widget set with its signals quiet, then which are live."""
        state, s = self.state, self.state.settings
        self._showing = True
        try:
            if "model" in changed:
                self._set_model_shape(state.depth, state.heads)
                self._offer_class_maps(state.has_classes)
            self.mode.setCurrentIndex(self.mode.findData(s.method))
            self.view.setCurrentIndex(s.view)
            self.block.setValue(s.block + 1)
            self.head.setCurrentIndex(s.head)
            self.start_block.setValue(s.start_block + 1)
            self.fusion.setCurrentIndex(max(0, self.fusion.findData(s.fusion)))
            self.discard.setValue(round(100 * s.discard_ratio))
            self.opacity.setValue(round(100 * s.opacity))
            if self.colormap.findText(s.colormap) >= 0:
                self.colormap.setCurrentText(s.colormap)
            self.show_overlay.setChecked(s.show_overlay)
            self.setEnabled(state.photo is not None)  # nothing to choose a map of yet
        finally:
            self._showing = False
        self.update_enabled()

    def fusion_name(self) -> str:
        """mean, max or min: what the "Combine heads" words stand for."""
        return self.fusion.currentData()

    def set_fusion(self, name: str) -> None:
        self.state.change(fusion=name)

    @property
    def method(self):
        return METHODS[self.mode.currentData()]

    def _set_model_shape(self, depth: int, heads: int) -> None:
        """Block and head selectors follow the loaded model."""
        self.start_block.setRange(1, depth)
        self.block.setRange(1, depth)
        if self.head.count() != heads:
            self.head.clear()
            self.head.addItems([f"head {h}" for h in range(1, heads + 1)])

    def _offer_class_maps(self, has_classes: bool) -> None:
        """The maps of a class (class evidence, Grad-CAM, LeGrad) need a model with classes:
        for a backbone they are greyed out and their tooltip says why."""
        for index in range(self.mode.count()):
            method = METHODS[self.mode.itemData(index)]
            if "class_index" in method.parameters:
                self.mode.model().item(index).setEnabled(has_classes)
                self.mode.setItemData(index, method.description if has_classes else
                                      f"{method.description}. This model has no classes yet: teach it some "
                                      "(Model > Teach new classes…) to see this map", Qt.ItemDataRole.ToolTipRole)

    def update_enabled(self) -> None:
        """Only what applies to the view and map shown is live."""
        live = self.state.live_parameters()
        for name, widgets in self.parameter_widgets.items():
            for widget in widgets:
                widget.setEnabled(name in live)
        self.mode.setEnabled(self.state.settings.view == VIEW_SINGLE)
        self.discard_label.setText(f"{self.discard.value()}%")

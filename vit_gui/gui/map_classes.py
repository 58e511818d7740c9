"""The map view's class maps (class evidence, Grad-CAM, LeGrad): they need the model's
gradients for one class, so they are asked of the worker and kept per MapSpec; the class
follows each photo's top class until the user picks another. A part of AttentionView
(mixed in), kept apart by concern."""

from __future__ import annotations

import numpy as np

from vit_gui.explain.maps import MapSpec
from vit_gui.gui.map_controls import VIEW_SINGLE


class ClassMapsMixin:
    def request_class(self, class_index: int, label: str, picked: bool = True) -> None:
        """Show the class map of `class_index` (the chosen gradient method, else class evidence),
        asking for it if needed. A class the user `picked` other than the top one stays picked
        on the next images; the top class (or a class map chosen without a class) follows each
        image's top class."""
        top = self.prediction.top[0].index if self.prediction is not None and self.prediction.top else None
        self.follow_top = not picked or class_index == top
        self.class_labels[class_index] = label
        self.class_index = class_index
        if not self.method.needs_gradients:
            self.mode.blockSignals(True)
            self.set_method("class")
            self.mode.blockSignals(False)
        self._update_enabled()
        self.render()

    def _ask_gradient_map(self, spec: MapSpec) -> None:
        if spec not in self.class_pending:  # a click and an activation may both arrive
            self.class_pending.add(spec)
            self.caption.setText(f"computing {spec.describe(self.depth, self.class_labels.get(spec.class_index, ''))}…")
            self.gradient_map_requested.emit(spec)

    def has_class_map(self, class_index: int) -> bool:
        """Whether the map shown for `class_index` (the chosen gradient method) is computed."""
        spec = self.spec()
        return spec is not None and spec.class_index == class_index and spec in self.class_maps

    def set_class_map(self, spec: MapSpec, grid_map: np.ndarray) -> None:
        self.class_pending.discard(spec)
        self.class_maps[spec] = grid_map
        if self.spec() == spec:
            self.render()

    def gradient_map_failed(self, spec: MapSpec, error: str) -> None:
        self.class_pending.discard(spec)  # asking again retries
        if self.spec() == spec:
            self.caption.setText(f"could not compute the map: {error}")

    def apply_spec(self, spec: MapSpec, label: str = "") -> None:
        """Show the map `spec` names (chosen in the check window), with the controls to match."""
        for widget in (self.mode, self.block, self.head, self.start_block, self.view):
            widget.blockSignals(True)
        self.set_method(spec.kind)
        self.view.setCurrentIndex(VIEW_SINGLE)
        if "block" in spec.method.parameters:
            self.block.setValue(spec.block + 1)
        if "head" in spec.method.parameters:
            self.head.setCurrentIndex(spec.head)
        if "start_block" in spec.method.parameters:
            self.start_block.setValue(spec.start_block + 1)
        for widget in (self.mode, self.block, self.head, self.start_block, self.view):
            widget.blockSignals(False)
        if spec.method.needs_gradients:
            self.request_class(spec.class_index, label or self.class_labels.get(spec.class_index, ""))
            return
        self._update_enabled()
        self.render()


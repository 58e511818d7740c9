"""What one map view shows, without Qt: the photo and its prediction, the map settings the
controls choose, the class whose evidence is drawn, the gradient maps asked and received,
the zoom, and the last check's verdict.

The widgets draw this state and change it through its methods; every change tells the
listeners which fields changed, so a control, a canvas or a second view linked to the first
(two models side by side, `link_settings`) follows without reading another widget. Being
plain Python, the rules (what a class pick does to the next photo, which parameters a view
reads, when a verdict no longer applies) are tested headless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np

from vit_gui.explain.maps import METHODS, MapSpec, legend_words

VIEW_SINGLE, VIEW_BLOCKS, VIEW_HEADS, VIEW_ATLAS = range(4)
VIEWS = ("One map", "Every block", "Every head of one block", "Atlas: every block × every head")
# which map parameters each tile view reads (the one-map view: the method's own)
VIEW_PARAMETERS = {VIEW_BLOCKS: ("fusion",), VIEW_HEADS: ("block",), VIEW_ATLAS: ()}
MAX_ZOOM = 8.0


@dataclass(frozen=True)
class MapSettings:
    """What the controls choose. Blocks and heads are 0-based."""

    method: str = "rollout"
    view: int = VIEW_SINGLE
    block: int = 11
    head: int = 0
    start_block: int = 0
    fusion: str = "mean"
    discard_ratio: float = 0.0
    opacity: float = 0.5
    colormap: str = "inferno"
    show_overlay: bool = True
    compare: int = 100  # the photo/map split: 0 the photo alone, 100 the map over all of it
    zoom: float = 1.0  # 1: the whole photo fits the canvas
    centre: tuple[float, float] = (0.5, 0.5)  # the point of the photo shown in the middle, as shares


SETTING_NAMES = frozenset(f.name for f in fields(MapSettings))
Listener = Callable[[frozenset], None]


class MapState:
    def __init__(self) -> None:
        self.settings = MapSettings()
        self.depth, self.heads, self.has_classes = 12, 12, True
        self.photo = None  # PIL, the upright photo at display resolution
        self.prediction = None  # Prediction with attentions
        self.class_index: int | None = None
        self.follow_top = True  # class maps follow each photo's top class until another is picked
        self.class_labels: dict[int, str] = {}
        self.class_maps: dict[MapSpec, np.ndarray] = {}  # gradient maps of this photo, by spec
        self.class_pending: set[MapSpec] = set()  # asked, not back yet
        self.checked_spec: MapSpec | None = None  # the map the verdict is of
        self.verdict = ""
        self._listeners: list[Listener] = []

    # ---- listening ------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        """`listener(changed)` after every change; `changed` names settings fields and the
        others: "model", "photo", "class", "class_maps", "verdict"."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _tell(self, changed) -> None:
        changed = frozenset(changed)
        if changed:
            for listener in list(self._listeners):
                listener(changed)

    # ---- the model and the photo ------------------------------------------------------------
    def set_model(self, depth: int, heads: int, rollout_start_block: int = 0, has_classes: bool = True,
                  default_map: str = "rollout") -> None:
        """Blocks and heads follow the model; one layer opens on the last (block 1's heads look
        like noise); the rollout starts where the model advises; a model without classes
        offers no class map; a model whose default map is class evidence opens on it."""
        self.depth, self.heads, self.has_classes = depth, heads, has_classes
        # another model numbers its classes its own way: a class picked on the last one means nothing here
        self.class_index, self.follow_top, self.class_labels = None, True, {}
        self.class_maps.clear()
        self.class_pending.clear()
        method = self.settings.method
        if not has_classes and METHODS[method].needs_gradients:
            method = "rollout"
        if has_classes and default_map == "class":
            method = "class"  # for each photo's top class, when it comes
        head = self.settings.head if self.settings.head < heads else 0
        self.settings = replace(self.settings, method=method, block=depth - 1, head=head,
                                start_block=min(rollout_start_block, depth - 1))
        # the controls follow; the view waits for the new model's photo (the one shown is
        # still the old model's); a linked view keeps its own model's shape
        self._tell(SETTING_NAMES | {"model"})

    def show(self, photo, prediction) -> None:
        """A new photo: its attentions are kept, the previous photo's class maps and verdict go.
        A class map stays chosen: for the new photo's top class, or the class the user picked."""
        self.photo, self.prediction = photo, prediction
        self.class_maps.clear()
        self.class_pending.clear()
        self.checked_spec, self.verdict = None, ""
        changed = {"photo", "class_maps", "verdict"}
        top = self._top()
        if self.method.needs_gradients and top is not None:
            if self.follow_top or self.class_index is None:
                self._follow(top)
            changed.add("class")
        else:
            self.class_index = None
            if self.method.needs_gradients:
                self.settings = replace(self.settings, method="rollout")
                changed.add("method")
        self._tell(changed)

    def photo_fits_model(self) -> bool:
        """Whether the prediction shown was made by a model of the shape set now: between a
        new model's loading and its result for this photo, it is the old model's, and its
        maps cannot be drawn with the new blocks and heads."""
        attentions = getattr(self.prediction, "attentions", None)
        if attentions is None:
            return True
        return len(attentions) == self.depth and len(attentions[0]) == self.heads

    def clear(self) -> None:
        self.photo = self.prediction = None
        self.class_maps.clear()
        self.class_pending.clear()
        self.checked_spec, self.verdict = None, ""
        self._tell({"photo", "class_maps", "verdict"})

    # ---- settings ---------------------------------------------------------------------------
    @property
    def method(self):
        return METHODS[self.settings.method]

    def change(self, **values) -> None:
        """Change settings (clamped to the model); a class map chosen without a class takes
        the photo's top class; a verdict of another map is dropped."""
        unknown = set(values) - SETTING_NAMES
        if unknown:
            raise TypeError(f"not a map setting: {', '.join(sorted(unknown))}")
        changed = self._set(values)
        if not changed:
            return
        if self.method.needs_gradients and self.class_index is None and self._top() is not None:
            self._follow(self._top())
            changed.add("class")
        self._tell(changed | self._drop_stale_verdict())

    def _set(self, values: dict) -> set:
        """Settings replaced by `values`, clamped; the names that really changed."""
        values = self._clamped(values)
        old = self.settings
        self.settings = replace(old, **values)
        return {name for name in values if getattr(old, name) != getattr(self.settings, name)}

    def _top(self):
        """The shown photo's top class (index, label), or None."""
        return self.prediction.top[0] if self.prediction is not None and self.prediction.top else None

    def _follow(self, top) -> None:
        self.class_index, self.follow_top = top.index, True
        self.class_labels[top.index] = top.label

    def _clamped(self, values: dict) -> dict:
        values = dict(values)
        if "block" in values:
            values["block"] = min(max(0, int(values["block"])), self.depth - 1)
        if "start_block" in values:
            values["start_block"] = min(max(0, int(values["start_block"])), self.depth - 1)
        if "head" in values:
            values["head"] = min(max(0, int(values["head"])), self.heads - 1)
        if "method" in values and METHODS[values["method"]].needs_gradients and not self.has_classes:
            values["method"] = "rollout"
        if "zoom" in values:
            values["zoom"] = min(MAX_ZOOM, max(1.0, float(values["zoom"])))
        if "centre" in values or "zoom" in values:
            zoom = values.get("zoom", self.settings.zoom)
            x, y = values.get("centre", self.settings.centre)
            half = 0.5 / zoom  # the shown window stays on the photo
            values["centre"] = (min(max(x, half), 1 - half), min(max(y, half), 1 - half))
        return values

    def zoom_at(self, factor: float, at: tuple[float, float] = (0.5, 0.5)) -> None:
        """Zoom by `factor` keeping the point under `at` (shares of the shown part) in place."""
        s = self.settings
        point = [c + (a - 0.5) / s.zoom for c, a in zip(s.centre, at)]
        zoom = min(MAX_ZOOM, max(1.0, s.zoom * factor))
        self.change(zoom=zoom, centre=tuple(p - (a - 0.5) / zoom for p, a in zip(point, at)))

    def pan(self, dx: float, dy: float) -> None:
        """Move the shown part by (dx, dy) shares of itself (a drag to the right shows more of the left)."""
        s = self.settings
        self.change(centre=(s.centre[0] - dx / s.zoom, s.centre[1] - dy / s.zoom))

    def live_parameters(self) -> tuple[str, ...]:
        """The map parameters what is shown now reads (the rest of the controls are greyed)."""
        return VIEW_PARAMETERS.get(self.settings.view, self.method.parameters)

    def spec(self) -> MapSpec | None:
        """The map the settings name; None while a class map has no class yet."""
        s = self.settings
        values = {"fusion": s.fusion, "discard_ratio": s.discard_ratio, "start_block": s.start_block,
                  "block": s.block, "head": s.head, "class_index": self.class_index}
        if "class_index" in self.method.parameters and self.class_index is None:
            return None
        return MapSpec(s.method, **{name: values[name] for name in self.method.parameters})

    # ---- classes and their gradient maps -----------------------------------------------------
    def pick_class(self, class_index: int, label: str, picked: bool = True) -> None:
        """Show `class_index`'s map (the chosen gradient method, else class evidence). A class
        the user `picked` other than the top one stays picked on the next photos."""
        top = self._top()
        self.follow_top = not picked or (top is not None and class_index == top.index)
        self.class_labels[class_index] = label
        self.class_index = class_index
        changed = {"class"}
        if not self.method.needs_gradients:
            self.settings = replace(self.settings, method="class", view=VIEW_SINGLE)
            changed |= {"method", "view"}
        self._tell(changed | self._drop_stale_verdict())

    def wanted_gradient_map(self) -> MapSpec | None:
        """The gradient map to ask the model for now (shown, not known, not asked yet)."""
        spec = self.spec()
        if spec is None or not spec.method.needs_gradients or self.prediction is None:
            return None
        if spec in self.class_maps or spec in self.class_pending:
            return None
        return spec

    def mark_asked(self, spec: MapSpec) -> None:
        self.class_pending.add(spec)

    def add_class_map(self, spec: MapSpec, grid_map: np.ndarray) -> None:
        self.class_pending.discard(spec)
        self.class_maps[spec] = grid_map
        self._tell({"class_maps"})

    def class_map_failed(self, spec: MapSpec) -> None:
        self.class_pending.discard(spec)  # asking again retries

    def has_class_map(self, class_index: int) -> bool:
        spec = self.spec()
        return spec is not None and spec.class_index == class_index and spec in self.class_maps

    # ---- choosing a map by its spec or its tile ------------------------------------------------
    def apply_spec(self, spec: MapSpec, label: str = "") -> None:
        """Show the map `spec` names (chosen in the check window), settings to match; its
        class is picked as a click in the results would pick it (the top class keeps
        following each photo's top class). The view is told even when only the class moved."""
        values = {"method": spec.kind, "view": VIEW_SINGLE}
        for name in ("block", "head", "start_block", "fusion", "discard_ratio"):
            if name in spec.method.parameters:
                values[name] = getattr(spec, name)
        changed = self._set(values)
        if spec.method.needs_gradients:
            top = self._top()
            self.class_index = spec.class_index
            self.follow_top = top is not None and spec.class_index == top.index
            self.class_labels[spec.class_index] = label or self.class_labels.get(spec.class_index, "")
            changed.add("class")
        self._tell(changed | self._drop_stale_verdict())

    def select_tile(self, index: int) -> None:
        """A tile was clicked: that block, head of this block, or block × head, large."""
        view = self.settings.view
        if view == VIEW_ATLAS:
            self.change(method="head", block=index // self.heads, head=index % self.heads, view=VIEW_SINGLE)
        elif view == VIEW_HEADS:
            self.change(method="head", head=index, view=VIEW_SINGLE)
        elif view == VIEW_BLOCKS:
            self.change(method="block", block=index, view=VIEW_SINGLE)

    # ---- the check's verdict ------------------------------------------------------------------
    def set_verdict(self, spec: MapSpec, words: str) -> None:
        """A check's verdict, kept while the map it judged is the one shown."""
        if spec == self.spec():
            self.checked_spec, self.verdict = spec, words
            self._tell({"verdict"})

    def clear_verdict(self) -> None:
        if self.checked_spec is not None or self.verdict:
            self.checked_spec, self.verdict = None, ""
            self._tell({"verdict"})

    def _drop_stale_verdict(self) -> set:
        if self.checked_spec is not None and self.spec() != self.checked_spec:
            self.checked_spec, self.verdict = None, ""
            return {"verdict"}
        return set()

    # ---- words ---------------------------------------------------------------------------------
    def class_label(self) -> str:
        return self.class_labels.get(self.class_index, "") if self.class_index is not None else ""

    def describe(self, spec: MapSpec, share: float | None = None) -> str:
        text = spec.describe(self.depth, self.class_labels.get(spec.class_index, ""))
        if share is not None:
            text += f" — {share:.0%} of the class token's attention went to the model's extra tokens (not drawn)"
        return text

    def legend_text(self) -> tuple[str, str]:
        """The colour bar's two ends: a class map names its class."""
        if self.settings.view != VIEW_SINGLE:
            return "less attention", "more attention"
        return legend_words(self.method, self.class_label())


def link_settings(first: MapState, second: MapState) -> None:
    """Two views with one set of map settings (two models side by side): a change in either
    reaches the other. What the other clamps to its own model (a shallower model's last
    block, a class map a backbone cannot show) stays its own and is not sent back."""
    passing: list[bool] = []  # a change being passed on: the answer it causes stays home

    def follow(source: MapState, target: MapState) -> Listener:
        def on_change(changed) -> None:
            names = changed & SETTING_NAMES
            if names and not passing and "model" not in changed:  # a model's own shape is not a choice
                passing.append(True)
                try:
                    target.change(**{name: getattr(source.settings, name) for name in names})
                finally:
                    passing.pop()
        return on_change

    first.subscribe(follow(first, second))
    second.subscribe(follow(second, first))

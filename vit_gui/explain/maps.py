"""Which map the user asked for, the registry of map methods, and computing a map from kept
attentions.

A `MapSpec` names one map; `compute_map` turns an image's attentions into it without
running the model again, which is what lets the app switch maps instantly. Only methods
that need gradients (class evidence, Grad-CAM, LeGrad) run the model (see `Predictor.gradient_map`).
Each method gives the class token's row over all tokens; the map is that row over the
patches, and the share on the other prefix tokens comes from the same row.

A new map method is one `MapMethod` in `METHODS`: its name, the parameters it reads from
the spec, whether it needs gradients, how to compute it, its file-name part and the words
that describe it to a user. The window's map choices and captions, the CLI's `--map`
choices and help, and the file names all come from here. Importing this module does not
import torch (the window lists the methods before torch is loaded); computing a map does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MapSpec:
    """kind: a name in METHODS. Block, head and start_block are 0-based; class_index is the
    model's class index."""

    kind: str = "rollout"
    fusion: str = "mean"
    discard_ratio: float = 0.0
    block: int = 0
    head: int = 0
    class_index: int = 0
    start_block: int = 0

    def __post_init__(self):
        from vit_gui.explain.rollout import FUSIONS

        if self.kind not in METHODS:
            raise ValueError(f"map kind must be one of {', '.join(METHODS)}, got {self.kind!r}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"head fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if not 0.0 <= self.discard_ratio < 1.0:
            raise ValueError(f"discard ratio must be in [0, 1), got {self.discard_ratio}")

    @property
    def method(self) -> MapMethod:
        return METHODS[self.kind]

    @property
    def slug(self) -> str:
        """A short file-name part: rollout, rollout-from2, block3, block3.head2, class281 (1-based blocks)."""
        return self.method.slug(self)

    def describe(self, depth: int, class_label: str = "") -> str:
        """One line for the user: what this map shows."""
        return self.method.caption(self, depth, class_label)

    def check_against(self, depth: int, heads: int, classes: int) -> None:
        """Raise ValueError naming the valid range when an index is out of it."""
        if "block" in self.method.parameters and not 0 <= self.block < depth:
            raise ValueError(f"block must be 1..{depth}, got {self.block + 1}")
        if "head" in self.method.parameters and not 0 <= self.head < heads:
            raise ValueError(f"head must be 1..{heads}, got {self.head + 1}")
        if "start_block" in self.method.parameters and not 0 <= self.start_block < depth:
            raise ValueError(f"the first block must be 1..{depth}, got {self.start_block + 1}")
        if self.method.needs_gradients and not classes:
            raise ValueError("this model has no classes yet, so it has no class-specific map")
        if "class_index" in self.method.parameters and not 0 <= self.class_index < max(classes, 1):
            raise ValueError(f"class index must be 0..{classes - 1}, got {self.class_index}")


@dataclass(frozen=True)
class MapMethod:
    name: str
    title: str  # the choice a user picks
    description: str  # a sentence for tooltips, CLI help and the README
    parameters: tuple[str, ...]  # the MapSpec fields it reads
    needs_gradients: bool
    slug: Callable[[MapSpec], str]
    caption: Callable[[MapSpec, int, str], str]
    reading: str  # how to read the map, in plain words, shown under the caption
    # (attentions (blocks, heads, N, N), spec) -> the class token's row over all N tokens;
    # None: the method needs the model (gradients)
    class_row: Callable | None = None


def _rollout_row(attentions, spec: MapSpec):
    from vit_gui.explain import rollout as ro

    return ro.rollout_row(attentions, spec.fusion, spec.discard_ratio, spec.start_block)


def _block_row(attentions, spec: MapSpec):
    from vit_gui.explain import rollout as ro

    return ro.block_rows(attentions[spec.block : spec.block + 1], spec.fusion)[0]


def _head_row(attentions, spec: MapSpec):
    import torch

    return torch.as_tensor(attentions[spec.block][spec.head][0]).to(torch.float64)


def _rollout_caption(spec: MapSpec, depth: int, _label: str) -> str:
    blocks = f"all {depth} blocks" if spec.start_block == 0 else f"blocks {spec.start_block + 1}–{depth}"
    discard = f", discarding the weakest {spec.discard_ratio:.0%}" if spec.discard_ratio else ""
    return f"attention rollout over {blocks} ({spec.fusion} of heads{discard})"


METHODS: dict[str, MapMethod] = {
    method.name: method
    for method in (
        MapMethod(
            "rollout", "Rollout (through the blocks)",
            "attention rollout (Abnar & Zuidema 2020): how attention flows from the image patches to the class "
            "token through the blocks, residual paths included",
            ("fusion", "discard_ratio", "start_block"), False,
            lambda s: "rollout" if s.start_block == 0 else f"rollout-from{s.start_block + 1}",
            _rollout_caption,
            "Bright patches are where the model's summary of the photo (the class token) drew its information "
            "from, followed through all the layers. It shows where the model looked, not why.",
            _rollout_row,
        ),
        MapMethod(
            "block", "One block",
            "the class token's attention in one block, its heads fused (mean, max or min)",
            ("block", "fusion"), False,
            lambda s: f"block{s.block + 1}",
            lambda s, depth, _: f"block {s.block + 1} of {depth}, all heads ({s.fusion})",
            "Bright patches are what the summary token looked at in this one layer only. Early layers often "
            "look at simple things (colour, edges); later layers at objects.",
            _block_row,
        ),
        MapMethod(
            "head", "One head",
            "the class token's attention in one head of one block",
            ("block", "head"), False,
            lambda s: f"block{s.block + 1}.head{s.head + 1}",
            lambda s, depth, _: f"block {s.block + 1} of {depth}, head {s.head + 1}",
            "Each layer looks several ways at once (its heads). Bright patches are what this one head looked at; "
            "heads often specialise, one on the object, another on the background.",
            _head_row,
        ),
        MapMethod(
            "class", "Class evidence",
            "gradient-weighted relevance for one class (Chefer, Gur & Wolf 2021): what supports that class",
            ("class_index",), True,
            lambda s: f"class{s.class_index}",
            lambda s, _depth, label: f"evidence for “{label or s.class_index}”",
            "Bright patches are the parts of the photo that pushed the model towards this class; dark ones did "
            "not help it. Pick another class in the results list to compare.",
        ),
        MapMethod(
            "gradcam", "Grad-CAM",
            "Grad-CAM for ViTs (Selvaraju et al. 2017, as pytorch-grad-cam and torchcam apply it): the last "
            "block's features weighted by how much each feature channel raises one class",
            ("class_index",), True,
            lambda s: f"gradcam{s.class_index}",
            lambda s, _depth, label: f"Grad-CAM for “{label or s.class_index}” (last block)",
            "Bright patches carry the features of the last layer that raise this class's score the most. It is "
            "coarse, and blind to what earlier layers did.",
        ),
        MapMethod(
            "legrad", "LeGrad",
            "LeGrad (Bousselham et al. 2024): in each block from the chosen one, how much the block's own class "
            "score would change with its attention to each patch, averaged over the blocks",
            ("class_index", "start_block"), True,
            lambda s: f"legrad{s.class_index}" + (f"-from{s.start_block + 1}" if s.start_block else ""),
            lambda s, depth, label: f"LeGrad for “{label or s.class_index}” (blocks {s.start_block + 1}–{depth})",
            "Bright patches are those whose attention, layer by layer, most builds up the evidence for this class.",
        ),
    )
}


def legend_words(method: MapMethod, class_label: str = "") -> tuple[str, str]:
    """The words at the two ends of the colour bar."""
    if method.needs_gradients:
        return "less evidence", f"more evidence for “{class_label}”" if class_label else "more evidence for the class"
    return "less attention", "more attention"


def class_row(attentions, spec: MapSpec):
    """The class token's row over all tokens that the map `spec` names, from kept attentions."""
    if spec.method.class_row is None:
        raise ValueError(f"the {spec.method.title} map needs gradients: use Predictor.gradient_map")
    return spec.method.class_row(attentions, spec)


def compute_map(attentions, grid: tuple[int, int], spec: MapSpec, prefix: int = 1,
                photo: np.ndarray | None = None) -> np.ndarray:
    """A map on the patch grid, in [0, 1] over the photo's patches (`photo`; padding 0), from
    kept attentions (`prefix` tokens before the patches)."""
    from vit_gui.explain import rollout as ro

    return ro.row_to_grid(class_row(attentions, spec), grid, prefix, photo)


def extra_token_share(attentions, spec: MapSpec, prefix: int) -> float:
    """How much of the class token's attention the other prefix tokens (registers, the
    distillation token) took, for the map `spec` names: 0 when the model has none."""
    if prefix <= 1 or spec.method.needs_gradients:
        return 0.0
    from vit_gui.explain import rollout as ro

    return ro.prefix_share(class_row(attentions, spec), prefix)

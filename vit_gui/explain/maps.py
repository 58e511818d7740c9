"""Which map the user asked for, and computing it from kept attentions.

A `MapSpec` names one map; `compute_map` turns an image's attentions into it without
running the model again, which is what lets the app switch maps instantly. Only the
class-specific map needs a fresh forward and backward pass (see `Predictor.class_map`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vit_gui.explain import rollout as ro

KINDS = ("rollout", "block", "head", "class")


@dataclass(frozen=True)
class MapSpec:
    """kind: rollout (all blocks), block (one block, heads fused), head (one head of one
    block) or class (gradient-weighted, for `class_index`). Block and head are 0-based."""

    kind: str = "rollout"
    fusion: str = "mean"
    discard_ratio: float = 0.0
    block: int = 0
    head: int = 0
    class_index: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"map kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.fusion not in ro.FUSIONS:
            raise ValueError(f"head fusion must be one of {', '.join(ro.FUSIONS)}, got {self.fusion!r}")
        if not 0.0 <= self.discard_ratio < 1.0:
            raise ValueError(f"discard ratio must be in [0, 1), got {self.discard_ratio}")

    @property
    def slug(self) -> str:
        """A short file-name part: rollout, block3, block3.head2, class281 (1-based blocks/heads)."""
        if self.kind == "block":
            return f"block{self.block + 1}"
        if self.kind == "head":
            return f"block{self.block + 1}.head{self.head + 1}"
        if self.kind == "class":
            return f"class{self.class_index}"
        return "rollout"

    def check_against(self, depth: int, heads: int, classes: int) -> None:
        """Raise ValueError naming the valid range when an index is out of it."""
        if self.kind in ("block", "head") and not 0 <= self.block < depth:
            raise ValueError(f"block must be 1..{depth}, got {self.block + 1}")
        if self.kind == "head" and not 0 <= self.head < heads:
            raise ValueError(f"head must be 1..{heads}, got {self.head + 1}")
        if self.kind == "class" and not 0 <= self.class_index < classes:
            raise ValueError(f"class index must be 0..{classes - 1}, got {self.class_index}")


def compute_map(attentions, grid: tuple[int, int], spec: MapSpec) -> np.ndarray:
    """A rollout, block or head map on the patch grid, in [0, 1], from kept attentions."""
    if spec.kind == "rollout":
        return ro.rollout(attentions, grid, spec.fusion, spec.discard_ratio)
    if spec.kind == "block":
        return ro.block_map(attentions, grid, spec.block, spec.fusion)
    if spec.kind == "head":
        return ro.head_map(attentions, grid, spec.block, spec.head)
    raise ValueError("a class-specific map needs gradients: use Predictor.class_map")

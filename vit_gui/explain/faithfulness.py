"""Can I trust this map? Deletion and insertion curves (Petsiuk et al. 2018; Chefer et al.
2021's positive and negative perturbation).

Patches are removed in the map's order, a tenth of them a step: most relevant first
(deletion: a faithful map makes the explained class's probability fall fast, a low area
under the curve) and least relevant first (insertion, or negative perturbation: it should
hold, a high area); a random order is the baseline for both. Removal drops the patch tokens
(a ViT runs on any subset of its tokens, each keeping its own position embedding; done by
masking, so every step of every curve runs in one batch) or, as an option, fills the
patches with the normalisation's mean colour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

REMOVALS = ("drop", "mean")
STEPS = 10
CHUNK = 16  # sequences per forward pass


@dataclass
class Curve:
    fractions: np.ndarray  # share of patches removed at each point, 0 … 1
    probs: np.ndarray  # the explained class's probability at each point
    holds: np.ndarray  # whether it is still the top-1 class

    @property
    def auc(self) -> float:
        return float(((self.probs[1:] + self.probs[:-1]) / 2 * np.diff(self.fractions)).sum())  # trapezoids


@dataclass
class Faithfulness:
    class_index: int
    removal: str
    deletion: Curve
    insertion: Curve
    random: Curve  # the mean of the random orders

    def to_json(self) -> dict:
        rounded = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
        return {"class_index": self.class_index, "removal": self.removal,
                "deletion_auc": round(self.deletion.auc, 6), "insertion_auc": round(self.insertion.auc, 6),
                "random_auc": round(self.random.auc, 6), "fractions": rounded(self.deletion.fractions),
                "deletion": rounded(self.deletion.probs), "insertion": rounded(self.insertion.probs),
                "random": rounded(self.random.probs)}


def removal_counts(patches: int, steps: int = STEPS) -> list[int]:
    return [round(k * patches / steps) for k in range(steps + 1)]


def keep_masks(orders: list[np.ndarray], patches: int, steps: int = STEPS) -> torch.Tensor:
    """(orders × (steps + 1), patches) bool: which patches remain at each step of each order."""
    masks = []
    for order in orders:
        for count in removal_counts(patches, steps):
            keep = np.ones(patches, bool)
            keep[order[:count]] = False
            masks.append(keep)
    return torch.from_numpy(np.stack(masks))


def curves(predictor, image, grid_map: np.ndarray, class_index: int | None = None, removal: str = "drop",
           steps: int = STEPS, random_orders: int = 2, seed: int = 0,
           cancelled: Callable[[], bool] | None = None) -> Faithfulness:
    """The deletion, insertion and random-order curves of `grid_map` (on the model's patch
    grid) for one image. The explained class is `class_index`, else the image's top-1."""
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {', '.join(REMOVALS)}, got {removal!r}")
    if predictor.info.architecture.is_backbone:
        raise ValueError("this model has no classes yet, so there is no class probability to follow")
    model = predictor.model
    pixels, _ = predictor.prepare([image])
    grid = model.grid_for(*pixels.shape[-2:])
    if tuple(grid_map.shape) != tuple(grid):
        raise ValueError(f"the map is {grid_map.shape[0]}x{grid_map.shape[1]}, the image has {grid[0]}x{grid[1]} patches")
    patches = grid[0] * grid[1]
    values = np.asarray(grid_map, np.float64).ravel()
    rng = np.random.default_rng(seed)
    orders = [np.argsort(-values, kind="stable"), np.argsort(values, kind="stable")]
    orders += [rng.permutation(patches) for _ in range(random_orders)]
    keep = keep_masks(orders, patches, steps).to(pixels.device)
    probs = []
    with torch.inference_mode():
        for start in range(0, len(keep), CHUNK):
            if cancelled and cancelled():
                from vit_gui.errors import VitGuiError

                raise VitGuiError("the check was cancelled")
            part = keep[start : start + CHUNK]
            batch = pixels.expand(len(part), -1, -1, -1)
            if removal == "drop":
                logits = model(batch, keep=part).logits
            else:
                logits = model(_mean_filled(batch, part, grid, model.patch_size)).logits
            probs.append(torch.softmax(logits.float(), dim=-1).cpu())
    probs = torch.cat(probs).numpy()
    if not np.isfinite(probs).all():
        from vit_gui.errors import VitGuiError

        runs = int((~np.isfinite(probs)).any(axis=1).sum())
        raise VitGuiError(f"the model's output is not a number (NaN or infinite) for {runs} of the {len(probs)} "
                          "partly removed versions of this image, so the map cannot be judged on it")
    if class_index is None:
        class_index = int(probs[0].argmax())  # nothing removed yet: the model's own answer
    explained = probs[:, class_index].reshape(len(orders), steps + 1)
    holds = (probs.argmax(axis=1) == class_index).reshape(len(orders), steps + 1)
    fractions = np.array(removal_counts(patches, steps)) / patches
    random = Curve(fractions, explained[2:].mean(axis=0), holds[2:].mean(axis=0) >= 0.5) if random_orders else None
    return Faithfulness(class_index, removal, Curve(fractions, explained[0], holds[0]),
                        Curve(fractions, explained[1], holds[1]), random)


def _mean_filled(pixels: torch.Tensor, keep: torch.Tensor, grid: tuple[int, int], patch: int) -> torch.Tensor:
    """Removed patches set to the normalisation's mean colour (0 after normalising)."""
    mask = keep.view(-1, 1, grid[0], 1, grid[1], 1).expand(-1, 1, grid[0], patch, grid[1], patch)
    mask = mask.reshape(-1, 1, grid[0] * patch, grid[1] * patch).to(pixels.dtype)
    filled = pixels.clone()
    height, width = grid[0] * patch, grid[1] * patch
    filled[..., :height, :width] = pixels[..., :height, :width] * mask
    return filled

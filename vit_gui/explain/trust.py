"""Two tests of a map that need no ground truth:

- Sanity (Adebayo et al. 2018, model-parameter randomisation, cascading): re-initialise the
  head, the final norm, then the blocks from the top down, then the position embedding, the
  prefix tokens and the patch embedding, one more each time, until no learned weight is
  left, and compare each new map with the original by rank correlation. A map that stays the same while the model's
  learned weights are scrambled shows the photo (edges, brightness), not the model.
- Stability: move the photo by a few input pixels (1, 2, 4, 8) and compare the map, moved
  back, with the original (rank correlation, and how much of the brightest tenth stays). A
  map whose hot spot jumps with a one-pixel shift says little about where exactly the
  model looked.

Both work on any map method: `map_of(model, pixels)` gives the map of an input.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from vit_gui.explain.removal import pixel_values

SHIFTS = (1, 2, 4, 8)
LEARNED = 0.5  # rank correlation below which, every weight scrambled, a map depends on the weights
STABLE = 0.7  # mean rank correlation over the shifts from which a map is called stable


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties); 0 when either side is constant."""
    ranks = [_average_ranks(np.asarray(x, np.float64).ravel()) for x in (a, b)]
    ra, rb = (r - r.mean() for r in ranks)
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        if count > 1:
            ranks[order[start : start + count]] = start + (count - 1) / 2
    return ranks


def map_function(spec, photo: np.ndarray | None) -> Callable:
    """`map_of(model, pixels)` for the map `spec` names (attention maps or gradient maps)."""
    from vit_gui.explain import gradient_maps
    from vit_gui.explain.maps import compute_map

    def map_of(model, pixels: torch.Tensor) -> np.ndarray:
        grid = model.grid_for(*pixels.shape[-2:])
        if spec.method.needs_gradients:
            return gradient_maps.gradient_map(model, pixels, spec.kind, spec.class_index, photo, spec.start_block)
        with torch.inference_mode():
            out = model(pixels, return_attention=True)
        attentions = torch.stack([a[0] for a in out.attentions]).float().cpu()
        return compute_map(attentions, grid, spec, model.num_prefix_tokens, photo)

    return map_of


@dataclass
class Randomisation:
    steps: list[tuple[str, float]]  # (what is scrambled so far, rank correlation with the original map)
    added: list[str] = field(default_factory=list)  # what each step scrambled on top of the one before

    @property
    def final(self) -> float:
        return self.steps[-1][1]

    @property
    def depends_on_weights(self) -> bool:
        return self.final < LEARNED

    def sentence(self) -> str:
        top = self.steps[0]
        if self.depends_on_weights:
            return (f"Scrambling the model's learned weights changes this map (rank correlation with the original "
                    f"{top[1]:.2f} with {top[0]} scrambled, {self.final:.2f} with every weight scrambled, down to "
                    "the patch and position embeddings): it shows what the model learned.")
        return (f"Careful: this map barely changes when the model's learned weights are scrambled (rank correlation "
                f"{self.final:.2f} with every weight scrambled, down to the patch and position embeddings): it shows "
                "the photo more than the model.")

    def to_json(self) -> dict:
        added = self.added or [""] * len(self.steps)
        return {"scrambled": [{"what": what, "added": more, "rank_correlation": round(rho, 6)}
                              for (what, rho), more in zip(self.steps, added)],
                "depends_on_weights": self.depends_on_weights}


def cascade(model) -> list[tuple[str, list]]:
    """Adebayo et al.'s cascade, top down to the input: (name, modules or parameters) of the
    head, the final norm, block L … 1, the position embedding, the prefix tokens, the patch
    embedding. After the last step no learned weight is left."""
    steps = [("the head", [model.head, model.head_dist])] if model.head is not None else []
    steps.append(("the final norm", [model.norm]))
    steps += [(index, [model.blocks[index]]) for index in range(len(model.blocks) - 1, -1, -1)]
    steps.append(("the position embedding", [(model.pos_embed, 0.02)]))
    tokens = [("class", model.cls_token), ("distillation", model.dist_token), ("register", model.reg_token)]
    present = [(name, token) for name, token in tokens if token is not None]
    names = [name for name, _ in present]
    words = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    steps.append((f"the {words} token{'s' if len(names) > 1 else ''}", [(t, 1e-6) for _, t in present]))
    steps.append(("the patch embedding", [model.patch_embed]))
    return steps


def _so_far(names: list, depth: int, last: bool) -> str:
    """The cumulative name: blocks as one range, in the order scrambled."""
    parts, blocks = [], [n for n in names if isinstance(n, int)]
    for name in names:
        if isinstance(name, int):
            if name == blocks[0]:
                low = min(blocks) + 1
                parts.append(f"block {depth}" if low == depth else f"blocks {low}–{depth}")
        else:
            parts.append(name)
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"every weight ({joined})" if last else joined


def randomisation_test(model, pixels: torch.Tensor, map_of: Callable, photo: np.ndarray | None = None,
                       seed: int = 0, cancelled: Callable[[], bool] | None = None) -> Randomisation:
    """Cascading re-initialisation from the top (`cascade`): one more part each step."""
    original = map_of(model, pixels)
    scrambled = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    depth = len(scrambled.blocks)
    layers = cascade(scrambled)
    steps, added, names = [], [], []
    for number, (name, parts) in enumerate(layers):
        stop_if(cancelled)
        for part in parts:
            if part is not None:
                _reinitialise(part, generator)
        names.append(name)
        added.append(f"block {name + 1}" if isinstance(name, int) else name)
        steps.append((_so_far(names, depth, number == len(layers) - 1), _compare(original, map_of(scrambled, pixels),
                                                                                 photo)))
    return Randomisation(steps, added)


@torch.no_grad()
def _reinitialise(part, generator: torch.Generator) -> None:
    """The layer's weights drawn again as a new model's are (timm's init); a (parameter, std)
    pair is an embedding or a prefix token, drawn with that spread."""
    from vit_gui.model.vit import init_layers

    if isinstance(part, tuple):
        parameter, std = part
        parameter.copy_(torch.randn(parameter.shape, generator=generator).clamp_(-2, 2) * std)
        return
    init_layers(part, generator)


def _compare(first: np.ndarray, second: np.ndarray, photo: np.ndarray | None) -> float:
    if photo is not None:
        return rank_correlation(first[photo], second[photo])
    return rank_correlation(first, second)


@dataclass
class Stability:
    shifts: list[tuple[int, float, float]]  # (pixels moved, rank correlation, share of the top tenth kept)

    @property
    def correlation(self) -> float:
        return float(np.mean([rho for _, rho, _ in self.shifts]))

    @property
    def top_kept(self) -> float:
        return float(np.mean([kept for *_, kept in self.shifts]))

    @property
    def stable(self) -> bool:
        return self.correlation >= STABLE

    def sentence(self) -> str:
        figures = f"rank correlation {self.correlation:.2f}, {self.top_kept:.0%} of its brightest tenth stays"
        if self.stable:
            return f"Moving the photo by 1–8 pixels leaves this map much the same ({figures})."
        return (f"Careful: moving the photo by 1–8 pixels changes this map a lot ({figures}): do not read much "
                "into its exact spots.")

    def to_json(self) -> dict:
        return {"shifts": [{"pixels": d, "rank_correlation": round(rho, 6), "top_tenth_kept": round(kept, 6)}
                           for d, rho, kept in self.shifts],
                "stable": self.stable}


def stability_test(model, pixels: torch.Tensor, map_of: Callable, photo_pixels: np.ndarray | None = None,
                   shifts=SHIFTS, cancelled: Callable[[], bool] | None = None) -> Stability:
    """The photo moved right and down by d input pixels (the edge filled with the mean
    colour); each map, upsampled to pixels and moved back, against the original's."""
    patch = model.patch_size
    original = pixel_values(map_of(model, pixels), patch)
    height, width = original.shape
    inside = np.ones((height, width), bool) if photo_pixels is None else photo_pixels[:height, :width]
    results = []
    for d in shifts:
        stop_if(cancelled)
        moved = torch.zeros_like(pixels)
        moved[..., d:, d:] = pixels[..., :-d, :-d]
        back = pixel_values(map_of(model, moved), patch)[d:, d:]  # back[y, x] is the moved map at (y + d, x + d)
        region = inside[: height - d, : width - d][::2, ::2]
        first = original[: height - d, : width - d][::2, ::2][region]
        second = back[::2, ::2][region]
        results.append((d, rank_correlation(first, second), _top_kept(first, second)))
    return Stability(results)


def _top_kept(first: np.ndarray, second: np.ndarray, share: float = 0.1) -> float:
    count = max(1, int(round(share * len(first))))
    top_first = set(np.argsort(-first, kind="stable")[:count].tolist())
    top_second = set(np.argsort(-second, kind="stable")[:count].tolist())
    return len(top_first & top_second) / count


def stop_if(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        from vit_gui.errors import VitGuiError

        raise VitGuiError("the check was cancelled")


def test_map(predictor, image, spec, cancelled: Callable[[], bool] | None = None) -> tuple[Randomisation, Stability]:
    """Both tests of the map `spec` names, for one photo, with the predictor's model (its
    float32 copy when int8 runs: int8 layers can be neither re-initialised nor differentiated)."""
    from vit_gui.explain.photo_area import photo_patches, photo_pixels

    model = predictor.gradient_model
    pixels, (geometry,) = predictor.prepare([image])
    photo = photo_patches(geometry, model.grid_for(*pixels.shape[-2:]), model.patch_size)
    map_of = map_function(spec, photo)
    return (randomisation_test(model, pixels, map_of, photo, cancelled=cancelled),
            stability_test(model, pixels, map_of, photo_pixels(geometry), cancelled=cancelled))

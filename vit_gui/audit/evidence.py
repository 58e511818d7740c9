"""What the audit keeps of each photo, computed once per batch: its map downsized to a
fixed grid, its patch tokens on that grid, the model's answer and an estimate of the object.

The map: for a model with classes, Grad-CAM (or the class evidence map of Chefer et al.) of
the class being audited, its gradients taken for a whole batch at once (photos in a batch do
not interact, so the gradient of the sum of each photo's own logit is each photo's
gradient); the same backward pass gives both maps, and the spot findings read the class
evidence map (SPOT_MAP) whichever is chosen; for a backbone, rollout from the model's own start block. The object estimate uses no new
weights: the first principal component of the photo's own final-norm patch tokens splits
them in two (DINOv2's PCA foreground, Oquab et al. 2023, Fig. 1); the side that touches
the photo's border less is taken as the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vit_gui.explain.maps import MapSpec, compute_map
from vit_gui.explain.photo_area import photo_patches, photo_region, scale_over_photo
from vit_gui.explain.rollout import row_to_grid

#: every map and token grid is brought to SIDE x SIDE cells: 16 is the built-in DINOv2's own
#: grid at 224 pixels, so its maps are kept at full detail; other models' grids are resampled
SIDE = 16
#: the maps the audit reads for a model with classes. Grad-CAM by default: on the planted logo
#: it matched the class evidence map (benchmarks/results/planted.md: 0.457 against 0.462 of
#: the map on the logo, no difference shown), and on the planted background it alone put the
#: background class's evidence behind the object (benchmarks/results/audit.md)
CLASSIFIER_MAPS = ("gradcam", "class")
#: the map the spot findings (same spot, one small spot) read for a model with classes, whatever
#: the map chosen: with a logo at random spots Grad-CAM's best sixteenth box held 0.3 of the map
#: in 58% of the marked photos and its mass missed the logo in a third of them, the class
#: evidence map (from the same backward pass) in 92% (benchmarks/results/audit.md)
SPOT_MAP = "class"
#: power iteration for the tokens' first principal component stops when successive
#: vectors agree to this cosine, or after POWER_STEPS (tests: a component 3% ahead of the
#: next is found to 1e-6)
POWER_TOLERANCE = 1e-12
POWER_STEPS = 2000


@dataclass
class PhotoEvidence:
    """One photo, reduced: what the audit needs of it after the model has run."""

    heat: np.ndarray  # (SIDE, SIDE) float32, >= 0, sums to 1 over the photo (the map's mass)
    photo: np.ndarray  # (SIDE, SIDE) bool: cells that are photo, not letterbox padding
    object: np.ndarray  # (SIDE, SIDE) bool: the estimated object (a subset of `photo`)
    region: tuple[float, float, float, float]  # the photo's box in the grid, 0..1 of its side
    answer: int  # the model's top class, -1 for a backbone
    tokens: np.ndarray | None = None  # (SIDE * SIDE, width) float16, final-norm patch tokens
    spot_heat: np.ndarray | None = None  # the SPOT_MAP where `heat` is another map (a classifier's Grad-CAM)

    @property
    def spot(self) -> np.ndarray:
        """The map the spot findings read: the class evidence map for a classifier, else `heat`."""
        return self.heat if self.spot_heat is None else self.spot_heat


def map_name(predictor, kind: str = "gradcam") -> str:
    """Which map the audit reads, as the JSON names it."""
    if predictor.info.architecture.is_backbone:
        return MapSpec("rollout", start_block=predictor.info.rollout_start_block).slug
    return kind


def to_side(values: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, SIDE, SIDE): area-averaged down, bilinear up."""
    if values.shape[-2:] == (SIDE, SIDE):
        return values
    if values.shape[-2] >= SIDE and values.shape[-1] >= SIDE:
        return F.adaptive_avg_pool2d(values, SIDE)
    return F.interpolate(values, size=(SIDE, SIDE), mode="bilinear", align_corners=False)


def object_estimate(tokens: torch.Tensor, photo: np.ndarray) -> np.ndarray:
    """(SIDE*SIDE, width) tokens -> (SIDE, SIDE) bool: the side of the tokens' first principal
    component that touches the photo's border less (ties: the smaller side)."""
    inside = torch.from_numpy(photo.reshape(-1))
    chosen = tokens[inside].double()
    if chosen.shape[0] < 4:
        return photo.copy()
    centred = chosen - chosen.mean(dim=0)
    side = (centred @ first_component(centred) > 0).numpy()
    positive = np.zeros(SIDE * SIDE, bool)
    positive[inside.numpy()] = side
    positive = positive.reshape(SIDE, SIDE)
    negative = photo & ~positive
    border = border_cells(photo)

    def touching(mask):
        return (mask & border).sum() / max(border.sum(), 1)

    a, b = touching(positive), touching(negative)
    if a == b:
        return positive if positive.sum() <= negative.sum() else negative
    return positive if a < b else negative


def first_component(centred: torch.Tensor, steps: int = POWER_STEPS) -> torch.Tensor:
    """The leading right singular vector by power iteration: a LAPACK SVD or eigh of one
    photo's tokens took ~1 s beside torch's threads on 2 cores, this takes milliseconds."""
    vector = centred.abs().mean(dim=0) + 1e-3  # a fixed start, never orthogonal to the answer in practice
    vector = vector / vector.norm()
    for _ in range(steps):
        step = centred.T @ (centred @ vector)
        step = step / step.norm().clamp(min=1e-300)
        done = float(step @ vector) > 1 - POWER_TOLERANCE
        vector = step
        if done:
            break
    return vector


def border_cells(photo: np.ndarray) -> np.ndarray:
    """The photo's outermost ring of cells."""
    rows, cols = np.nonzero(photo)
    border = np.zeros_like(photo)
    if rows.size:
        border[[rows.min(), rows.max()], :] = True
        border[:, [cols.min(), cols.max()]] = True
    return border & photo


def gradcam_values(activation: torch.Tensor, gradient: torch.Tensor, prefix: int) -> torch.Tensor:
    """Grad-CAM for ViTs for a batch, as gradient_maps.gradcam computes it for one photo:
    (B, N, D) activations and gradients at the last block's first LayerNorm -> (B, patches)."""
    activation, gradient = activation[:, prefix:].double(), gradient[:, prefix:].double()
    weights = gradient.mean(dim=1)  # per photo, one per channel
    return torch.relu(torch.einsum("bpd,bd->bp", activation, weights))


def class_rows(attn: torch.Tensor, grads: torch.Tensor) -> torch.Tensor:
    """Chefer et al.'s class-token rows for a batch, (B, blocks, heads, N, N) each -> (B, N):
    rollout.class_relevance's recursion with the heads fused in float32 for all photos at
    once (0.33 s a photo in float64 one by one), the row carried in float64."""
    weighted = (grads * attn).clamp_(min=0).mean(dim=2).double()  # (B, blocks, N, N)
    row = torch.zeros(attn.shape[0], attn.shape[-1], dtype=torch.float64)
    row[:, 0] = 1.0
    for block in reversed(range(weighted.shape[1])):
        row = row + torch.bmm(row[:, None], weighted[:, block])[:, 0]
    return row


class Evidence:
    """Runs the model on batches of photos and returns their PhotoEvidence. `kind`: the map
    for a classifier, "gradcam" (default) or "class"; a backbone's is always rollout."""

    def __init__(self, predictor, kind: str = "gradcam"):
        if kind not in CLASSIFIER_MAPS:
            raise ValueError(f"the audit's map is one of {', '.join(CLASSIFIER_MAPS)}, got {kind!r}")
        self.predictor = predictor
        self.model = predictor.gradient_model
        self.backbone = predictor.info.architecture.is_backbone
        self.kind = "rollout" if self.backbone else kind
        self.spec = MapSpec("rollout", start_block=predictor.info.rollout_start_block)

    def batch(self, images: list, classes: list[int | None], keep_tokens: list[bool]) -> list[PhotoEvidence]:
        """`classes[i]`: the class whose evidence is mapped (None: the model's answer)."""
        pixels, geometries = self.predictor.prepare(images)
        pixels = pixels.float()
        grid = self.model.grid_for(*pixels.shape[-2:])
        prefix = self.model.num_prefix_tokens
        kept = {}
        hooks = [self.model.norm.register_forward_hook(lambda _m, _i, output: kept.__setitem__("x", output)),
                 self.model.blocks[-1].norm1.register_forward_hook(lambda _m, _i, output: kept.__setitem__("a", output))]
        try:
            answers, rows = self._run(pixels, classes, kept)
        finally:
            for hook in hooks:
                hook.remove()
        tokens = kept["x"].detach().float()[:, prefix:]
        width = tokens.shape[-1]
        tokens = to_side(tokens.transpose(1, 2).reshape(len(images), width, *grid))
        tokens = tokens.reshape(len(images), width, SIDE * SIDE).transpose(1, 2)
        found = []
        for b, geometry in enumerate(geometries):
            photo_grid = photo_patches(geometry, grid, self.model.patch_size)
            grid_maps = {kind: self._grid_map(kind, values[b], grid, prefix, photo_grid) for kind, values in rows.items()}
            found.append(self._reduce(grid_maps[self.kind], grid_maps.get(SPOT_MAP), photo_grid, geometry, tokens[b],
                                      answers[b], keep_tokens[b]))
        return found

    def _run(self, pixels, classes, kept) -> tuple[list[int], dict[str, torch.Tensor]]:
        """(answers, per kind of map: per photo attentions for rollout, or Grad-CAM's patch
        values and Chefer's rows, both from one backward pass)."""
        if self.kind == "rollout":
            with torch.inference_mode():
                out = self.model(pixels, return_attention=True)
            return [-1] * len(pixels), {"rollout": torch.stack(out.attentions, dim=1).float()}
        pixels.requires_grad_(True)  # the weights are frozen: this makes the graph
        with torch.enable_grad():
            out = self.model(pixels, return_attention=True)
            answers = out.logits.argmax(dim=1).tolist()
            chosen = [answers[b] if c is None else c for b, c in enumerate(classes)]
            # photos in a batch do not interact: the sum's gradient is each photo's own
            score = out.logits[torch.arange(len(pixels)), torch.tensor(chosen)].sum()
            gradient, *grads = torch.autograd.grad(score, [kept["a"], *out.attentions])
        attn = torch.stack([a.detach() for a in out.attentions], dim=1).float()
        return answers, {"gradcam": gradcam_values(kept["a"].detach(), gradient, self.model.num_prefix_tokens),
                         "class": class_rows(attn, torch.stack(grads, dim=1).float())}

    def _grid_map(self, kind, values, grid, prefix, photo_grid) -> np.ndarray:
        if kind == "rollout":
            grid_map = compute_map(values, grid, self.spec, prefix, photo_grid)
        elif kind == "class":
            grid_map = row_to_grid(values, grid, prefix, photo_grid)
        else:
            grid_map = scale_over_photo(values.reshape(grid).numpy(), photo_grid)
        return np.asarray(grid_map, np.float32)

    def _reduce(self, grid_map, spot_map, photo_grid, geometry, tokens, answer, keep) -> PhotoEvidence:
        photo = to_side(torch.from_numpy(photo_grid.astype(np.float32))[None, None])[0, 0].numpy() >= 0.5
        if not photo.any():
            photo[:] = True
        heat = _unit_heat(grid_map, photo)
        spot = None if spot_map is None or self.kind == SPOT_MAP else _unit_heat(spot_map, photo)
        height, width = geometry.input_size
        x0, y0, x1, y1 = photo_region(geometry)
        region = (x0 / width, y0 / height, x1 / width, y1 / height)
        return PhotoEvidence(heat, photo, object_estimate(tokens, photo), region, int(answer),
                             tokens.numpy().astype(np.float16) if keep else None, spot)


def _unit_heat(grid_map: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """A model-grid map -> (SIDE, SIDE) float32 of unit mass over the photo's cells."""
    heat = to_side(torch.from_numpy(np.clip(grid_map, 0, None))[None, None].float())[0, 0].numpy()
    heat = np.where(photo, heat, 0.0)
    total = heat.sum()
    return (heat / total if total > 0 else photo / photo.sum()).astype(np.float32)

"""What the audit keeps of each photo, computed once per batch: its map downsized to a
fixed grid, its patch tokens on that grid, the model's answer and an estimate of the object.

The map: for a model with classes, the class evidence map (Chefer et al.) of the class being
audited, its gradients taken for a whole batch at once (photos in a batch do not interact,
so the gradient of the sum of each photo's own logit is each photo's gradient); for a
backbone, rollout from the model's own start block. The object estimate uses no new
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
from vit_gui.explain.photo_area import photo_patches, photo_region
from vit_gui.explain.rollout import row_to_grid

#: every map and token grid is brought to SIDE x SIDE cells: 16 is the built-in DINOv2's own
#: grid at 224 pixels, so its maps are kept at full detail; other models' grids are resampled
SIDE = 16
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


def map_name(predictor) -> str:
    """Which map the audit reads, as the JSON names it."""
    if predictor.info.architecture.is_backbone:
        return MapSpec("rollout", start_block=predictor.info.rollout_start_block).slug
    return "class"


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
    border = _border(photo)

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


def _border(photo: np.ndarray) -> np.ndarray:
    """The photo's outermost ring of cells."""
    rows, cols = np.nonzero(photo)
    border = np.zeros_like(photo)
    if rows.size:
        border[[rows.min(), rows.max()], :] = True
        border[:, [cols.min(), cols.max()]] = True
    return border & photo


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
    """Runs the model on batches of photos and returns their PhotoEvidence."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.model = predictor.gradient_model
        self.backbone = predictor.info.architecture.is_backbone
        self.spec = MapSpec("rollout", start_block=predictor.info.rollout_start_block)

    def batch(self, images: list, classes: list[int | None], keep_tokens: list[bool]) -> list[PhotoEvidence]:
        """`classes[i]`: the class whose evidence is mapped (None: the model's answer)."""
        pixels, geometries = self.predictor.prepare(images)
        pixels = pixels.float()
        grid = self.model.grid_for(*pixels.shape[-2:])
        prefix = self.model.num_prefix_tokens
        kept = {}
        hook = self.model.norm.register_forward_hook(lambda _m, _i, output: kept.__setitem__("x", output))
        try:
            if self.backbone:
                with torch.inference_mode():
                    out = self.model(pixels, return_attention=True)
                answers = [-1] * len(images)
                attn = torch.stack(out.attentions, dim=1).float()
                grads = None
            else:
                pixels.requires_grad_(True)
                with torch.enable_grad():
                    out = self.model(pixels, return_attention=True)
                    answers = out.logits.argmax(dim=1).tolist()
                    chosen = [answers[b] if c is None else c for b, c in enumerate(classes)]
                    score = out.logits[torch.arange(len(images)), torch.tensor(chosen)].sum()
                    grads = torch.autograd.grad(score, out.attentions)
                attn = torch.stack([a.detach() for a in out.attentions], dim=1).float()
                grads = torch.stack(grads, dim=1).float()
        finally:
            hook.remove()
        tokens = kept["x"].detach().float()[:, prefix:]
        width = tokens.shape[-1]
        tokens = to_side(tokens.transpose(1, 2).reshape(len(images), width, *grid))
        tokens = tokens.reshape(len(images), width, SIDE * SIDE).transpose(1, 2)
        relevance = None if grads is None else class_rows(attn, grads)
        found = []
        for b, geometry in enumerate(geometries):
            photo_grid = photo_patches(geometry, grid, self.model.patch_size)
            if grads is None:
                grid_map = compute_map(attn[b], grid, self.spec, prefix, photo_grid)
            else:
                grid_map = row_to_grid(relevance[b], grid, prefix, photo_grid)
            found.append(self._reduce(np.asarray(grid_map, np.float32), photo_grid, geometry, tokens[b], answers[b],
                                      keep_tokens[b]))
        return found

    def _reduce(self, grid_map, photo_grid, geometry, tokens, answer, keep) -> PhotoEvidence:
        heat = to_side(torch.from_numpy(np.clip(grid_map, 0, None))[None, None].float())[0, 0].numpy()
        photo = to_side(torch.from_numpy(photo_grid.astype(np.float32))[None, None])[0, 0].numpy() >= 0.5
        if not photo.any():
            photo[:] = True
        heat = np.where(photo, heat, 0.0)
        total = heat.sum()
        heat = (heat / total if total > 0 else photo / photo.sum()).astype(np.float32)
        height, width = geometry.input_size
        x0, y0, x1, y1 = photo_region(geometry)
        region = (x0 / width, y0 / height, x1 / width, y1 / height)
        return PhotoEvidence(heat, photo, object_estimate(tokens, photo), region, int(answer),
                             tokens.numpy().astype(np.float16) if keep else None)

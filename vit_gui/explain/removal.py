"""Three ways to take parts of a photo away from a ViT, named in every result because the
verdict on a map can depend on them (issue #23 found maps whose ranking flips between them):

- "drop" (token drop): the removed patches' tokens leave the sequence; the others keep their
  own position embeddings (removals of as many patches run together as shorter sequences;
  mixed ones are masked out of every attention, checked equal).
- "mean" (mean fill): the removed patches take the normalisation's mean colour (0 after
  normalising), the value a letterbox pads with.
- "blackout" (Chefer et al.'s perturbation test, `pertubation_eval_from_hdf5.py`): the map is
  upsampled bilinearly to pixels and the top pixels are set to 0 in the [0, 1] image, before
  normalisation: black.

Only photo patches and pixels are ever removed: letterbox padding stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

PROTOCOLS = ("drop", "mean", "blackout")
PROTOCOL_NAMES = {"drop": "token drop", "mean": "mean fill", "blackout": "black-out (Chefer et al.)"}
CHUNK = 8  # perturbed inputs per forward pass (batches of 4-32 cost the same a photo; 8 keep Cancel under a second)


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"removal must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")


def pixel_values(grid_map: np.ndarray, patch: int) -> np.ndarray:
    """A patch-grid map upsampled bilinearly to the pixels the patches cover (Chefer et al.'s
    `interpolate(..., scale_factor=16, mode='bilinear')`, align_corners False)."""
    values = torch.as_tensor(np.asarray(grid_map, np.float32))[None, None]
    return F.interpolate(values, scale_factor=patch, mode="bilinear", align_corners=False)[0, 0].numpy()


class Remover:
    """Runs one input with parts removed, many removals per forward pass, and scores each
    with `score(logits, features)` -> (B,) numbers (a class's probability, or the embedding's
    cosine to the photo's own)."""

    def __init__(self, model, pixels: torch.Tensor, protocol: str, mean, std,
                 score: Callable[[torch.Tensor | None, torch.Tensor], torch.Tensor],
                 cancelled: Callable[[], bool] | None = None):
        check_protocol(protocol)
        self.model, self.pixels, self.protocol, self.score = model, pixels, protocol, score
        self.cancelled = cancelled
        self.patch = model.patch_size
        self.grid = model.grid_for(*pixels.shape[-2:])
        black = (0.0 - torch.tensor(mean, dtype=torch.float32)) / torch.tensor(std, dtype=torch.float32)
        self.black = black.to(pixels.device, pixels.dtype)[:, None, None]  # (3, 1, 1)

    @property
    def unit_count(self) -> int:
        """How many units a removal mask has: patches, or pixels for the black-out."""
        rows, cols = self.grid
        return rows * cols * (self.patch * self.patch if self.protocol == "blackout" else 1)

    def run(self, removed: np.ndarray) -> np.ndarray:
        """(runs, units) bool, True = removed -> (runs,) scores, float64."""
        removed = np.asarray(removed, bool)
        parts, rows_run = [], []
        with torch.inference_mode():
            for rows in self._batches(removed):
                if self.cancelled and self.cancelled():
                    from vit_gui.errors import VitGuiError

                    raise VitGuiError("the check was cancelled")
                out = self._forward(torch.from_numpy(removed[rows]).to(self.pixels.device))
                parts.append(self.score(out.logits, out.features).double().cpu().numpy())
                rows_run.append(rows)
        scores = np.zeros(0)
        if parts:  # back in the order asked for
            scores = np.empty_like(np.concatenate(parts))
            scores[np.concatenate(rows_run)] = np.concatenate(parts)
        if not np.isfinite(scores).all():
            from vit_gui.errors import VitGuiError

            raise VitGuiError(f"the model's output is not a number (NaN or infinite) for {int((~np.isfinite(scores)).sum())} "
                              f"of the {len(scores)} partly hidden versions of this image, so the map cannot be judged on it")
        return scores

    def _batches(self, removed: np.ndarray) -> list[np.ndarray]:
        """Rows per forward pass, at most CHUNK; for token drop, only rows that remove as many
        patches, so each batch runs as one shorter sequence."""
        if self.protocol != "drop":
            return [np.arange(start, min(start + CHUNK, len(removed))) for start in range(0, len(removed), CHUNK)]
        counts = removed.sum(axis=1)
        batches = []
        for count in np.unique(counts):
            rows = np.flatnonzero(counts == count)
            batches += [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]
        return batches

    def _forward(self, removed: torch.Tensor):
        batch = self.pixels.expand(len(removed), -1, -1, -1)
        if self.protocol == "drop":
            return self.model(batch, keep=~removed)
        rows, cols = self.grid
        if self.protocol == "mean":
            mask = removed.view(-1, 1, rows, 1, cols, 1).expand(-1, 1, rows, self.patch, cols, self.patch)
            mask = mask.reshape(-1, 1, rows * self.patch, cols * self.patch)
            filled = batch.clone()
            filled[..., : rows * self.patch, : cols * self.patch] *= (~mask).to(batch.dtype)
            return self.model(filled)
        mask = removed.view(-1, 1, rows * self.patch, cols * self.patch)
        blacked = batch.clone()
        covered = blacked[..., : rows * self.patch, : cols * self.patch]
        covered.copy_(torch.where(mask, self.black, covered))
        return self.model(blacked)

    def patches_as_units(self, patch_mask: np.ndarray) -> np.ndarray:
        """A removal of patches (…, rows*cols) in this protocol's units (pixels for the black-out)."""
        if self.protocol != "blackout":
            return patch_mask
        rows, cols = self.grid
        shaped = np.asarray(patch_mask).reshape(-1, rows, 1, cols, 1)
        pixels = np.broadcast_to(shaped, (shaped.shape[0], rows, self.patch, cols, self.patch))
        return pixels.reshape(shaped.shape[0], -1)

"""Which patches (and pixels) of the model's input are the photo, and which are letterbox
padding.

A letterboxed photo is padded with the mean colour to the model's input; on a wide photo
at 224 px a third of the patches can be padding. Padding is not the photo: it is never
drawn, never ranked or removed when a map is judged, never counted in the fractions, and
never part of a map's [0, 1] scaling (DINOv2 often puts its brightest attention there).
"""

from __future__ import annotations

import numpy as np

#: a patch counts as photo when at least this share of its pixels is photo
PHOTO_SHARE = 0.5


def photo_region(geometry) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1): the photo's rectangle in model-input pixels (the whole input for a
    crop or a resize; the pasted photo inside the padding for a letterbox)."""
    left, top, right, bottom = geometry.box
    height, width = geometry.input_size
    sx, sy = width / (right - left), height / (bottom - top)
    image_w, image_h = geometry.image_size
    x0, y0 = -left * sx, -top * sy
    x1, y1 = x0 + image_w * sx, y0 + image_h * sy
    return max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)


def photo_patches(geometry, grid: tuple[int, int], patch: int) -> np.ndarray:
    """(rows, cols) bool: the patches that are (mostly) photo."""
    x0, y0, x1, y1 = photo_region(geometry)
    cols = np.arange(grid[1]) * patch
    rows = np.arange(grid[0]) * patch
    across = np.clip(np.minimum(cols + patch, x1) - np.maximum(cols, x0), 0, None) / patch
    down = np.clip(np.minimum(rows + patch, y1) - np.maximum(rows, y0), 0, None) / patch
    mask = down[:, None] * across[None, :] >= PHOTO_SHARE
    if not mask.any():  # a photo thinner than half a patch: its best-covered patches
        share = down[:, None] * across[None, :]
        mask = share >= share.max()
    return mask


def photo_pixels(geometry) -> np.ndarray:
    """(height, width) bool over the model input: pixels whose centre lies in the photo."""
    x0, y0, x1, y1 = photo_region(geometry)
    height, width = geometry.input_size
    xs = np.arange(width) + 0.5
    ys = np.arange(height) + 0.5
    return ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]


def scale_over_photo(values: np.ndarray, photo: np.ndarray | None) -> np.ndarray:
    """A map scaled to [0, 1] over its photo patches, padding set to 0 (float32). A map flat
    over the photo becomes all zeros, as in rollout.normalize."""
    values = np.asarray(values, np.float64)
    if photo is None:
        photo = np.ones(values.shape[-2:], bool)
    inside = values[..., photo]
    low = inside.min(axis=-1)[..., None, None]
    span = inside.max(axis=-1)[..., None, None] - low
    scale = np.abs(inside).max(axis=-1)[..., None, None]
    real = span > 1e-10 * scale
    scaled = np.where(real, (values - low) / np.where(real, span, 1.0), 0.0)
    return np.where(photo, np.clip(scaled, 0.0, 1.0), 0.0).astype(np.float32)

"""Draw a patch-grid map back onto the image the user sees.

The map covers the model input, which covers `Geometry.box` of the original image; it is
bilinearly interpolated between patch centres (clamped at the box edges) and left empty
outside the box, so a centre crop never paints heat on parts the model did not see.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from vit_gui.preprocess import Geometry

DEFAULT_COLORMAP = "inferno"


def _axis_weights(out_pixels: int, scale: float, start: float, stop: float, cells: int):
    """(out_pixels, cells) bilinear weights and an inside mask for one axis.

    Output pixel i has its centre at original coordinate (i + 0.5) / scale; the box
    [start, stop) is split into `cells` equal cells whose centres carry the map values.
    """
    coords = (np.arange(out_pixels) + 0.5) / scale
    inside = (coords >= start) & (coords < stop)
    cell = (coords - start) * cells / (stop - start) - 0.5
    cell = np.clip(cell, 0, cells - 1)
    low = np.floor(cell).astype(int)
    high = np.minimum(low + 1, cells - 1)
    frac = cell - low
    weights = np.zeros((out_pixels, cells))
    rows = np.arange(out_pixels)
    np.add.at(weights, (rows, low), 1 - frac)
    np.add.at(weights, (rows, high), frac)
    return weights, inside


def heat_on_image(grid_map: np.ndarray, geometry: Geometry, size: tuple[int, int] | None = None):
    """(heat, inside): float32 (h, w) map at `size` (default: the original image size) and
    a bool mask of the pixels the model saw."""
    out_w, out_h = size or geometry.image_size
    img_w, img_h = geometry.image_size
    left, top, right, bottom = geometry.box
    grid_h, grid_w = grid_map.shape
    wy, in_y = _axis_weights(out_h, out_h / img_h, top, bottom, grid_h)
    wx, in_x = _axis_weights(out_w, out_w / img_w, left, right, grid_w)
    heat = (wy @ np.asarray(grid_map, np.float64) @ wx.T).astype(np.float32)
    inside = in_y[:, None] & in_x[None, :]
    return np.where(inside, heat, 0.0).astype(np.float32), inside


def get_colormap(name: str):
    """Matplotlib's colormap of that name, or ValueError naming the problem."""
    import matplotlib

    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colormap {name!r} (try inferno, jet, viridis, turbo)") from None


def colorize(heat: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A [0, 1] map -> RGB uint8 through a matplotlib colormap."""
    return get_colormap(colormap)(np.clip(heat, 0.0, 1.0), bytes=True)[..., :3]


STRIP_PIXELS = 1 << 21  # blend about 2 MP at a time: memory stays near the image's own size


def overlay(
    image: Image.Image,
    grid_map: np.ndarray,
    geometry: Geometry,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = 0.5,
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """The image with the coloured map blended over it at `opacity` (0 hides it).

    `size` renders at another (e.g. display) size; the default is the image's own size.
    Blended in horizontal strips, so a 120 MP export takes about twice the image's bytes
    (the photo and the result), not the ~9 GB of float arrays a whole-image blend took.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    size = tuple(size or image.size)
    base = image if image.mode == "RGB" else image.convert("RGB")
    if base.size != size:
        base = base.resize(size, Image.Resampling.BILINEAR)
    out_w, out_h = size
    img_w, img_h = geometry.image_size
    left, top, right, bottom = geometry.box
    grid = np.asarray(grid_map, np.float64)
    wy, in_y = _axis_weights(out_h, out_h / img_h, top, bottom, grid.shape[0])
    wx, in_x = _axis_weights(out_w, out_w / img_w, left, right, grid.shape[1])
    across = grid @ wx.T  # (grid rows, width): the map resampled across once
    cmap = get_colormap(colormap)
    pixels = np.array(base)  # uint8 (h, w, 3), our own copy: blended in place
    rows = max(1, STRIP_PIXELS // max(out_w, 1))
    for y0 in range(0, out_h, rows):
        y1 = min(out_h, y0 + rows)
        heat = (wy[y0:y1] @ across).astype(np.float32)
        colour = cmap(np.clip(heat, 0.0, 1.0), bytes=True)[..., :3].astype(np.float32)
        alpha = (opacity * (in_y[y0:y1, None] & in_x[None, :])).astype(np.float32)[..., None]
        strip = pixels[y0:y1].astype(np.float32) * (1 - alpha) + colour * alpha
        pixels[y0:y1] = np.round(strip).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")

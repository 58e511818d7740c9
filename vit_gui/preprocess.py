"""Turn an RGB image into the model's input tensor, remembering where the input came from.

Three policies, read from the model's `Preprocessing`:
- `crop` (timm's eval transform): resize the shorter side to input / crop_pct, centre-crop.
- `resize` (Hugging Face's ViT processor): squash the whole image to input / crop_pct,
  ignoring its aspect ratio, then centre-crop (crop_pct 1: no crop).
- `letterbox`: fit the whole image inside the input, pad with the mean colour.

Either way a `Geometry` records which rectangle of the original image the model input
spans, so a map on the patch grid can be drawn back exactly where the model saw it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from vit_gui.model.config import Preprocessing

RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Geometry:
    """The model input (height x width pixels) spans `box` = (left, top, right, bottom) in
    the original image's pixel coordinates. For a crop the box lies inside the image; for
    a letterbox it extends past the image edges (the padding)."""

    image_size: tuple[int, int]  # original (width, height)
    input_size: tuple[int, int]  # model input (height, width)
    box: tuple[float, float, float, float]

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        """Model-input pixel coordinates (u across, v down) -> original image coordinates."""
        left, top, right, bottom = self.box
        height, width = self.input_size
        return left + u * (right - left) / width, top + v * (bottom - top) / height


def crop_box(image_size: tuple[int, int], prep: Preprocessing) -> tuple[float, float, float, float]:
    """The original-image rectangle that timm's resize + centre-crop keeps."""
    width, height = image_size
    in_h, in_w = prep.input_size
    scale_h, scale_w = _scaled(in_h, prep.crop_pct), _scaled(in_w, prep.crop_pct)
    if scale_h == scale_w:  # torchvision Resize(int): shorter side -> size, longer truncated
        short, long_ = (width, height) if width <= height else (height, width)
        new_short, new_long = scale_h, int(scale_h * long_ / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    else:  # timm ResizeKeepRatio: cover the scaled target, keeping the aspect ratio
        ratio = min(height / scale_h, width / scale_w)
        new_h, new_w = round(height / ratio), round(width / ratio)
    new_w, new_h = max(new_w, 1), max(new_h, 1)
    # torchvision CenterCrop offsets, in the resized image
    top = int(round((new_h - in_h) / 2.0))
    left = int(round((new_w - in_w) / 2.0))
    sx, sy = new_w / width, new_h / height
    return left / sx, top / sy, (left + in_w) / sx, (top + in_h) / sy


def _scaled(size: int, crop_pct: float) -> int:
    """floor(size / crop_pct), as timm computes it, immune to 64 / (64 / 73) = 72.999…"""
    return math.floor(size / crop_pct + 1e-6)


def resize_box(image_size: tuple[int, int], prep: Preprocessing) -> tuple[float, float, float, float]:
    """The original-image rectangle kept by a squash to input / crop_pct and a centre crop
    (transformers' offsets: floor of half the excess)."""
    width, height = image_size
    in_h, in_w = prep.input_size
    new_h, new_w = _scaled(in_h, prep.crop_pct), _scaled(in_w, prep.crop_pct)
    top, left = (new_h - in_h) // 2, (new_w - in_w) // 2
    sx, sy = new_w / width, new_h / height
    return left / sx, top / sy, (left + in_w) / sx, (top + in_h) / sy


def letterbox_box(image_size: tuple[int, int], prep: Preprocessing) -> tuple[float, float, float, float]:
    """The original-image rectangle (past the edges) that a centred letterbox spans."""
    width, height = image_size
    in_h, in_w = prep.input_size
    scale = min(in_h / height, in_w / width)
    size = int if prep.letterbox_floor else round  # the seed truncates: int(iw * scale)
    new_w, new_h = max(1, size(width * scale)), max(1, size(height * scale))
    off_x, off_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    sx, sy = new_w / width, new_h / height
    return -off_x / sx, -off_y / sy, (in_w - off_x) / sx, (in_h - off_y) / sy


BOXES = {"crop": crop_box, "resize": resize_box, "letterbox": letterbox_box}


def geometry_for(image_size: tuple[int, int], prep: Preprocessing) -> Geometry:
    box = BOXES[prep.resize_mode](image_size, prep)
    return Geometry(tuple(image_size), tuple(prep.input_size), box)


def resize_to_input(image: Image.Image, geometry: Geometry, prep: Preprocessing) -> Image.Image:
    """The RGB image the model sees: the geometry's box resampled to the input size."""
    in_h, in_w = geometry.input_size
    resample = RESAMPLE[prep.interpolation]
    left, top, right, bottom = geometry.box
    if left >= 0 and top >= 0 and right <= image.width and bottom <= image.height:
        # resampling only the kept box equals resize-then-crop, without building the
        # (possibly enormous) intermediate image
        return image.resize((in_w, in_h), resample, box=geometry.box)
    # the box reaches past the image (letterbox, or a crop rounded one pixel too far):
    # resize the whole image and pad the rest with the mean colour
    sx, sy = in_w / (right - left), in_h / (bottom - top)
    new_w, new_h = max(1, round(image.width * sx)), max(1, round(image.height * sy))
    pad = prep.pad_rgb if prep.pad_rgb is not None else tuple(round(255 * m) for m in prep.mean)
    canvas = Image.new("RGB", (in_w, in_h), pad)
    canvas.paste(image.resize((new_w, new_h), resample), (round(-left * sx), round(-top * sy)))
    return canvas


def to_tensor(image: Image.Image, prep: Preprocessing) -> torch.Tensor:
    """(3, H, W) float32, scaled to [0, 1] then normalised with the model's mean and std."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def preprocess(image: Image.Image, prep: Preprocessing) -> tuple[torch.Tensor, Geometry]:
    """An RGB PIL image -> (input tensor (3, H, W), geometry back to the original)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    geometry = geometry_for(image.size, prep)
    return to_tensor(resize_to_input(image, geometry, prep), prep), geometry

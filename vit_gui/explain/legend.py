"""A colour bar with plain words under a saved picture.

A map saved to a file is seen without the window: the picture itself must say what its
colours mean ("less attention … more attention", or evidence for a class). The band is
added below the picture, so no part of the photo is covered.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vit_gui.explain.overlay import colorize

MIN_FONT = 9


def legend_height(width: int) -> int:
    """The band's height: about 5% of the width, readable on a thumbnail, modest on a poster."""
    return int(min(160, max(26, round(width * 0.05))))


def _fitting_font(draw, low: str, high: str, width: int, size: int):
    """The largest font (from `size` down) whose words leave a colour bar a quarter of the
    width; None when even the smallest does not (a thumbnail gets the bar alone)."""
    while size >= MIN_FONT:
        font = ImageFont.load_default(size=size)
        words = draw.textlength(low, font=font) + draw.textlength(high, font=font)
        if words + width / 4 + 4 * size <= width:
            return font, words
        size -= 1
    return None, 0.0


def with_legend(image: Image.Image, colormap: str, low: str, high: str) -> Image.Image:
    """`image` (RGB) with a white band below it: `low`, the colour bar, `high`."""
    band = legend_height(image.width)
    out = Image.new("RGB", (image.width, image.height + band), "white")
    out.paste(image.convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(out)
    font, words = _fitting_font(draw, low, high, image.width, max(MIN_FONT, band // 2))
    if font:  # words, the bar, words: centred together
        gap = font.size
        bar_width = int(max(2, min(image.width * 0.45, image.width - words - 4 * gap)))
        total = words + 2 * gap + bar_width
    else:  # the bar alone, nearly the whole width
        gap = 2
        bar_width = max(2, image.width - 2 * gap)
        total = bar_width
    bar_height = max(4, band // 3)
    x = max(0, int((image.width - total) / 2))
    middle = image.height + band // 2
    if font:
        draw.text((x, middle), low, fill="black", font=font, anchor="lm")
        x += int(draw.textlength(low, font=font)) + gap
    ramp = colorize(np.tile(np.linspace(0.0, 1.0, bar_width, dtype=np.float32), (bar_height, 1)), colormap)
    out.paste(Image.fromarray(ramp), (x, middle - bar_height // 2))
    if font:
        draw.text((x + bar_width + gap, middle), high, fill="black", font=font, anchor="lm")
    return out

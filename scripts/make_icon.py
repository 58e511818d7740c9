"""resources/vit-gui.{png,ico,icns}: the app icon, drawn from the app's own idea: a photo
cut into patches, the ones the model looked at glowing in the map's colours.
Usage: python scripts/make_icon.py
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SIDE, GRID = 512, 5


def icon() -> Image.Image:
    import matplotlib

    colours = matplotlib.colormaps["inferno"]
    picture = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(picture)
    draw.rounded_rectangle((16, 16, SIDE - 16, SIDE - 16), radius=88, fill=(28, 24, 48, 255))
    cell, margin = (SIDE - 2 * 72) / GRID, 72
    centre = np.array([2.6, 1.8])  # where "the model looked"
    for row in range(GRID):
        for column in range(GRID):
            heat = float(np.exp(-np.sum((np.array([column, row]) - centre) ** 2) / 2.2))
            r, g, b, _ = (np.array(colours(0.15 + 0.85 * heat)) * 255).astype(int)
            left, top = margin + column * cell, margin + row * cell
            draw.rounded_rectangle((left + 7, top + 7, left + cell - 7, top + cell - 7), radius=14,
                                   fill=(int(r), int(g), int(b), 255))
    return picture


def main() -> None:
    picture = icon()
    out = ROOT / "resources"
    picture.save(out / "vit-gui.png")
    picture.save(out / "vit-gui.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    picture.save(out / "vit-gui.icns")
    for name in ("vit-gui.png", "vit-gui.ico", "vit-gui.icns"):
        print(out / name, (out / name).stat().st_size)


if __name__ == "__main__":
    main()

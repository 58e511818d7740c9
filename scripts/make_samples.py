"""Write resources/samples/*.jpg from scikit-image's bundled real photos."""

from pathlib import Path

import skimage.data
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "resources" / "samples"

if __name__ == "__main__":
    for name in ("chelsea", "coffee", "rocket"):
        Image.fromarray(getattr(skimage.data, name)()).save(OUT / f"{name}.jpg", quality=90)
        print(OUT / f"{name}.jpg")

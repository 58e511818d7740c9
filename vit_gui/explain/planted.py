"""Known answers for maps: evidence planted on real photos (issue #29, item 6).

A map is only as trustworthy as the cases where the truth is known. Here the truth is made:
scenes cut from real photos, half of them marked by a small logo pasted at a random place;
a probe taught on the backbone learns "marked", and what decided it is the logo, wherever
it sits. A map that points at what decided the answer puts its mass on the logo (the share
of the map inside the logo's box, Arras et al. 2022's relevance mass) and its peak there
(the pointing game, Zhang et al. 2016); cf. Zhou et al., AAAI 2022, on planted features.

Scenes from one photo are not independent: results are counted per source photo, and a
probe is judged on photos it was not taught on (leave one photo out).

The photos are the distinct natural colour photos the stack ships (scikit-image's, and
matplotlib's sample portrait); scikit-image is a test dependency, so it is imported only
when the photos are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "rocket")
SCENE_SIZE = 224
MARK_SIZE = 56  # a quarter of the scene's side: 4x4 patches of a ViT-S/14 at 224


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    marked: bool
    box: tuple[int, int, int, int] | None  # the logo's (x0, y0, x1, y1) in the scene's pixels
    photo: str  # the real photo it was cut from


def real_photos() -> dict[str, np.ndarray]:
    """Name -> RGB array of every distinct natural colour photo the stack ships offline."""
    import matplotlib.cbook
    import skimage.data

    photos = {name: getattr(skimage.data, name)()[..., :3] for name in SKIMAGE_PHOTOS}
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as stream:
        photos["grace_hopper"] = np.asarray(Image.open(stream).convert("RGB"))
    return photos


def mark(size: int = MARK_SIZE) -> Image.Image:
    """The planted evidence: scikit-image's own logo (RGBA), a small picture unlike any scene."""
    import skimage.data

    return Image.fromarray(skimage.data.logo()).resize((size, size), Image.Resampling.LANCZOS)


def scenes(photos: dict[str, np.ndarray], per_photo: int, seed: int = 0, size: int = SCENE_SIZE,
           mark_size: int = MARK_SIZE) -> list[Scene]:
    """`per_photo` square crops of each photo (a random half to whole of its shorter side, at
    a random place), every other one marked by the logo at a random place inside it."""
    rng = np.random.default_rng(seed)
    logo = mark(mark_size)
    made = []
    for name, pixels in photos.items():
        photo = Image.fromarray(pixels)
        for k in range(per_photo):
            side = int(min(photo.size) * rng.uniform(0.5, 1.0))
            x, y = int(rng.integers(0, photo.width - side + 1)), int(rng.integers(0, photo.height - side + 1))
            scene = photo.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.BICUBIC)
            box = None
            if k % 2 == 0:
                x0, y0 = (int(v) for v in rng.integers(0, size - mark_size + 1, size=2))
                scene.paste(logo, (x0, y0), logo)
                box = (x0, y0, x0 + mark_size, y0 + mark_size)
            made.append(Scene(scene, box is not None, box, name))
    return made


def share_on_box(heat: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The share of a map's mass (drawn on the scene's pixels, non-negative) inside the box."""
    heat = np.clip(np.asarray(heat, np.float64), 0, None)
    total = heat.sum()
    x0, y0, x1, y1 = box
    return float(heat[y0:y1, x0:x1].sum() / total) if total > 0 else 0.0


def points_at_box(heat: np.ndarray, box: tuple[int, int, int, int], tolerance: int = 14) -> bool:
    """The pointing game: the map's brightest pixel lies in the box, or within `tolerance`
    pixels of it (one patch of a ViT-S/14). Ties go to the first brightest pixel."""
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    x0, y0, x1, y1 = box
    return x0 - tolerance <= x < x1 + tolerance and y0 - tolerance <= y < y1 + tolerance


def flat_share(box: tuple[int, int, int, int], size: int = SCENE_SIZE) -> float:
    """What a map with no information scores: the box's share of the scene's area."""
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0) / (size * size)

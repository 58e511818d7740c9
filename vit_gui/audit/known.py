"""Folders with a known answer for the audit (tests and benchmarks/audit.py), made from the
real photos the stack ships (explain.planted): two classes cut from the same scenes, one
marked by scikit-image's logo at one fixed spot or at random spots; one class's objects all
on one background colour; and clean folders whose classes differ by their photos only.

Crops of one picture are not independent photos: each folder records the source photo of
every file, so results can be counted per source photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vit_gui.explain.planted import MARK_SIZE, SCENE_SIZE, mark, scenes

#: where the fixed logo sits (pixels of the 224 scene): inside, clear of the border
FIXED_SPOT = (140, 28)
OBJECT_SIZE = 112  # the pasted object's side in the background case: a quarter of the scene
GRASS_TINT = (0.55, 1.0, 0.45)  # scikit-image's grass texture (grey), tinted green


@dataclass
class KnownFolder:
    root: Path
    classes: list[str]
    source: dict[str, str] = field(default_factory=dict)  # file path -> the real photo it was cut from
    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # marked file -> the logo's box


def _save(folder: KnownFolder, name: str, index: int, image: Image.Image, photo: str, box=None) -> None:
    path = folder.root / name / f"{photo}-{index:03d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    folder.source[str(path)] = photo
    if box is not None:
        folder.boxes[str(path)] = box


def _plain_crops(photos: dict, per_photo: int, seed: int) -> list:
    """Unmarked square crops of the photos (scenes() marks every other one: those are skipped)."""
    return [s for s in scenes(photos, 2 * per_photo, seed=seed) if not s.marked]


def planted_logo(root: Path, photos: dict, per_photo: int, fixed: bool, seed: int = 0) -> KnownFolder:
    """Classes "plain" and "marked" from the same photos' crops; "marked" carries the logo at
    FIXED_SPOT (fixed) or at a random place (scenes' own planting)."""
    folder = KnownFolder(Path(root), ["marked", "plain"])
    if fixed:
        logo = mark()
        for k, scene in enumerate(_plain_crops(photos, per_photo, seed)):
            image = scene.image.copy()
            box = None
            if k % 2 == 0:
                image.paste(logo, FIXED_SPOT, logo)
                box = (*FIXED_SPOT, FIXED_SPOT[0] + MARK_SIZE, FIXED_SPOT[1] + MARK_SIZE)
            _save(folder, "marked" if box else "plain", k, image, scene.photo, box)
    else:
        for k, scene in enumerate(scenes(photos, per_photo, seed=seed)):
            _save(folder, "marked" if scene.marked else "plain", k, scene.image, scene.photo, scene.box)
    return folder


def planted_background(root: Path, photos: dict, per_photo: int, seed: int = 0) -> KnownFolder:
    """Objects (crops of the photos, OBJECT_SIZE square, pasted at a random place) on one
    texture, green grass ("grass"), or on a crop of another photo ("scene"): the classes
    differ by what is behind the object only."""
    import skimage.data

    rng = np.random.default_rng(seed)
    grass = skimage.data.grass().astype(np.float64)
    folder = KnownFolder(Path(root), ["grass", "scene"])
    crops = _plain_crops(photos, per_photo, seed)
    names = sorted(photos)
    for k, scene in enumerate(crops):
        on_green = k % 2 == 0
        if on_green:
            x, y = (int(v) for v in rng.integers(0, grass.shape[0] - SCENE_SIZE + 1, size=2))
            patch = grass[y:y + SCENE_SIZE, x:x + SCENE_SIZE, None] * np.array(GRASS_TINT)
            back = Image.fromarray(np.clip(patch, 0, 255).astype(np.uint8))
        else:
            other = photos[names[(names.index(scene.photo) + 1 + int(rng.integers(len(names) - 1))) % len(names)]]
            back = Image.fromarray(other).resize((SCENE_SIZE, SCENE_SIZE), Image.Resampling.BICUBIC)
        x, y = (int(v) for v in rng.integers(0, SCENE_SIZE - OBJECT_SIZE + 1, size=2))
        back.paste(scene.image.resize((OBJECT_SIZE, OBJECT_SIZE), Image.Resampling.BICUBIC), (x, y))
        _save(folder, "grass" if on_green else "scene", k, back, scene.photo, (x, y, x + OBJECT_SIZE, y + OBJECT_SIZE))
    return folder


def clean(root: Path, photos: dict, split: list[list[str]], per_photo: int, seed: int = 0) -> KnownFolder:
    """One class per list of photo names, made of those photos' plain crops: classes that
    differ by their pictures, nothing planted."""
    folder = KnownFolder(Path(root), [f"class{c}" for c in range(len(split))])
    chosen = sorted(name for group in split for name in group)  # the same crops whatever the split
    crops = _plain_crops({name: photos[name] for name in chosen}, per_photo, seed)
    for k, scene in enumerate(crops):
        c = next(c for c, group in enumerate(split) if scene.photo in group)
        _save(folder, f"class{c}", k, scene.image, scene.photo)
    return folder


def random_split(names, seed: int) -> list[list[str]]:
    """The photo names shuffled by `seed` and cut in two halves: a clean folder's two classes."""
    import random

    order = sorted(names)
    random.Random(seed).shuffle(order)
    return [order[:len(order) // 2], order[len(order) // 2:]]


def teach_probe(predictor, base_path: Path, folder: KnownFolder, known_features: dict | None = None):
    """A probe taught on the folder's own photos with the backbone's class-token features:
    the classifier whose decisions the audit reads. Returns (Predictor, training accuracy).
    `known_features`: file name -> feature, for photos already seen (a benchmark reuses them)."""
    from vit_gui.images import load_image
    from vit_gui.predict import Predictor
    from vit_gui.teach.data import read_class_folders
    from vit_gui.teach.probe import train_probe
    from vit_gui.teach.save import taught_model, taught_sidecar

    data = read_class_folders([folder.root])
    known_features = {} if known_features is None else known_features
    todo = [path for path, _ in data.items if path.name not in known_features]
    for i in range(0, len(todo), 8):
        for path, prediction in zip(todo[i:i + 8], predictor.predict([load_image(p).image for p in todo[i:i + 8]])):
            known_features[path.name] = prediction.features
    features = np.stack([known_features[path.name] for path, _ in data.items])
    labels = np.array([label for _, label in data.items])
    probe = train_probe(features, labels, features, labels, len(data.classes))
    sidecar = taught_sidecar(base_path, predictor.info, "audit", data.classes, {}, "audit")
    model = Predictor(taught_model(base_path, predictor.info, probe, sidecar))
    return model, float((probe.predict(features) == labels).mean())

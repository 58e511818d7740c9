"""A folder with one subfolder per class: the images, their classes, and a seeded
stratified split. Unreadable files are listed with their reason, never fatal."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from vit_gui.images import find_images


@dataclass
class Dataset:
    classes: list[str]
    items: list[tuple[Path, int]]  # (image, class index)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for _, label in self.items:
            counts[self.classes[label]] += 1
        return counts


class TeachDataError(ValueError):
    """The data cannot teach anything (fewer than two classes, a class without images)."""


def read_class_folders(folders: list[Path]) -> Dataset:
    """`folders` are the class folders themselves (their names are the class names); a single
    folder whose subfolders hold the images is expanded into them."""
    folders = [Path(f) for f in folders]
    if len(folders) == 1 and folders[0].is_dir():
        subfolders = sorted(p for p in folders[0].iterdir() if p.is_dir() and not p.name.startswith("."))
        if subfolders:
            folders = subfolders
    classes, items, skipped = [], [], []
    for folder in folders:
        found = find_images([folder], skipped=skipped)
        if not found:
            skipped.append((folder, "no images in this class folder: the class is left out"))
            continue
        classes.append(folder.name)
        items += [(path, len(classes) - 1) for path in found]
    if len(classes) < 2:
        raise TeachDataError("teaching needs at least two class folders with images in them "
                             f"(found {len(classes)}: {', '.join(classes) or 'none'})")
    return Dataset(classes, items, skipped)


def split(items: list[tuple[Path, int]], fraction: float, seed: int) -> tuple[list, list]:
    """Stratified, seeded: each class gives `fraction` of its images (at least one, when it
    has two or more) to validation."""
    if not 0.0 < fraction < 1.0:
        raise TeachDataError(f"the validation share must be between 0 and 1, got {fraction}")
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted({label for _, label in items}):
        members = [item for item in items if item[1] == label]
        rng.shuffle(members)
        count = max(1, round(fraction * len(members))) if len(members) >= 2 else 0
        val += members[:count]
        train += members[count:]
    return train, val

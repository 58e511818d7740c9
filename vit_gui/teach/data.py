"""A folder with one subfolder per class: the images, their classes, and a seeded
stratified split. Unreadable files are listed with their reason, never fatal, and so are
links that lead out of the data folder (not followed: `loop -> ..` would bring in every
other class's photos)."""

from __future__ import annotations

import os
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
    classes, items, skipped = [], [], []
    if len(folders) == 1 and folders[0].is_dir():
        subfolders = sorted(p for p in folders[0].iterdir() if p.is_dir() and not p.name.startswith("."))
        if subfolders:
            folders = _linked_class_folders_inside(folders[0], subfolders, skipped)
    _refuse_duplicate_names(folders)
    for folder in folders:
        found = _files_inside(folder, find_images([folder], skipped=skipped), skipped)
        if not found:
            skipped.append((folder, "no images in this class folder: the class is left out"))
            continue
        classes.append(folder.name)
        items += [(path, len(classes) - 1) for path in found]
    if len(classes) < 2:
        links = [f"{path.name} ({why})" for path, why in skipped if why.startswith(LINK_NOT_FOLLOWED)]
        raise TeachDataError("teaching needs at least two class folders with images in them "
                             f"(found {len(classes)}: {', '.join(classes) or 'none'})"
                             + (f"; {'; '.join(links[:3])}" if links else ""))
    return Dataset(classes, items, skipped)


LINK_NOT_FOLLOWED = "a link to"


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _linked_class_folders_inside(root: Path, subfolders: list[Path], skipped: list) -> list[Path]:
    """The class folders of `root`, less those that are links leading out of it (`loop -> ..`
    is the data folder's parent: every other class again) or onto another class folder (its
    photos in two classes): each left out with where it points. Links within stay."""
    home = os.path.realpath(root)
    real = {folder: os.path.realpath(folder) for folder in subfolders}
    kept = []
    for folder in subfolders:
        target = real[folder]
        if not folder.is_symlink():
            kept.append(folder)
        elif _inside(home, target):
            skipped.append((folder, f"{LINK_NOT_FOLLOWED} {target}, which holds the data folder itself (a loop): "
                                    "not followed"))
        elif not _inside(target, home):
            skipped.append((folder, f"{LINK_NOT_FOLLOWED} {target}, outside the data folder {home}: not followed "
                                    "(to teach that class, name its folder beside the others' instead)"))
        elif twin := next((other for other in subfolders if other != folder and not other.is_symlink()
                           and (_inside(target, real[other]) or _inside(real[other], target))), None):
            skipped.append((folder, f"{LINK_NOT_FOLLOWED} {target}, the class folder {twin.name}: not followed "
                                    "(its photos would be in two classes)"))
        else:
            kept.append(folder)
    return kept


def _files_inside(folder: Path, found: list[Path], skipped: list) -> list[Path]:
    """`found` less the photos that are links leading out of `folder` (the walk follows no
    linked subfolder; a linked file is the one way out), each left out with its target."""
    home = os.path.realpath(folder)
    kept = []
    for path in found:
        if os.path.islink(path) and not _inside(target := os.path.realpath(path), home):
            skipped.append((path, f"{LINK_NOT_FOLLOWED} {target}, outside the class folder {home}: not followed"))
        else:
            kept.append(path)
    return kept


def _refuse_duplicate_names(folders: list[Path]) -> None:
    """A class is its folder's name: two folders of one name (a/cats, b/cats; or Cats and
    cats) would be two classes nobody can tell apart, and one would overwrite the other in
    every report keyed by name."""
    by_name: dict[str, list[Path]] = {}
    for folder in folders:
        by_name.setdefault(folder.name.casefold(), []).append(folder)
    clashes = [group for group in by_name.values() if len(group) > 1]
    if clashes:
        shown = "; ".join(" and ".join(str(f) for f in group) for group in clashes[:3])
        raise TeachDataError(f"two class folders have the same name ({shown}): a class is named after its "
                             "folder, so rename one, or put all the photos of one class in one folder")


def split(items: list[tuple[Path, int]], fraction: float, seed: int) -> tuple[list, list]:
    """Stratified, seeded: each class gives `fraction` of its images to validation (at least
    one when it has two or more, never all of them)."""
    if not 0.0 < fraction < 1.0:
        raise TeachDataError(f"the validation share must be between 0 and 1, got {fraction}")
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted({label for _, label in items}):
        members = [item for item in items if item[1] == label]
        rng.shuffle(members)
        # at least one photo to check (with two or more), and always at least one to learn from
        count = min(max(1, round(fraction * len(members))), len(members) - 1) if len(members) >= 2 else 0
        val += members[:count]
        train += members[count:]
    return train, val

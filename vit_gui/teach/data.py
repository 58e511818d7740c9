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
    folders = _one_class_per_real_folder(folders, skipped)
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
    is the data folder's parent: every other class again): each left out with where it
    points. Links within stay (a link onto another class is _one_class_per_real_folder's)."""
    home = os.path.realpath(root)
    kept = []
    for folder in subfolders:
        target = os.path.realpath(folder)
        if not folder.is_symlink():
            kept.append(folder)
        elif _inside(home, target):
            skipped.append((folder, f"{LINK_NOT_FOLLOWED} {target}, which holds the data folder itself (a loop): "
                                    "not followed"))
        elif not _inside(target, home):
            skipped.append((folder, f"{LINK_NOT_FOLLOWED} {target}, outside the data folder {home}: not followed "
                                    "(to teach that class, name its folder beside the others' instead)"))
        else:
            kept.append(folder)
    return kept


def _one_class_per_real_folder(folders: list[Path], skipped: list) -> list[Path]:
    """`folders` less those whose real folder is, holds or lies in another's: its photos would
    be in two classes (`loop -> ..` named beside the others took in all of theirs; two links
    onto one folder made two classes of the same photos). Real folders win over links, then
    the earlier; each one left out is listed with the folders it overlaps."""
    real = {folder: os.path.realpath(folder) for folder in folders}
    kept: list[Path] = []
    for folder in sorted(folders, key=lambda f: f.is_symlink()):  # stable: real folders first, in order
        target = real[folder]
        same = [k for k in kept if real[k] == target]
        holds = [k for k in kept if real[k] != target and _inside(real[k], target)]
        within = [k for k in kept if real[k] != target and _inside(target, real[k])]
        if not (same or holds or within):
            kept.append(folder)
            continue
        names = lambda group: ", ".join(k.name for k in group[:3]) + (", …" if len(group) > 3 else "")  # noqa: E731
        if same:
            what = f"the same folder as the class folder {same[0].name}"
        elif holds:
            what = f"which holds the class folder{'s' if len(holds) > 1 else ''} {names(holds)}"
            if folder.is_symlink() and _inside(os.path.realpath(folder.parent), target):
                what += " and the link itself (a loop)"
        else:
            what = f"inside the class folder {within[0].name}"
        lead, verb = ((f"{LINK_NOT_FOLLOWED} {target}, ", "not followed") if folder.is_symlink()
                      else ("", "not taught as a class of its own"))
        skipped.append((folder, f"{lead}{what}: {verb} (its photos would be in two classes)"))
    return [folder for folder in folders if folder in kept]


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

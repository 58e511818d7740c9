"""Reading an audit's folder and streaming its photos through the model in batches.

The folder holds class folders (the truth known, read as teaching reads them) or any
photos, which are then grouped by the model's answer. Only the reduced evidence of each
photo is kept (a 16 x 16 map and masks); patch tokens are kept for a bounded random sample
of each class (reservoir sampling), which is all the part finding reads: memory grows by
about 1 KB a photo plus PARTS_PHOTOS photos' tokens a class, whatever the folder's size.
An unreadable photo is listed with its reason and the audit goes on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vit_gui.audit.evidence import Evidence, PhotoEvidence
from vit_gui.errors import VitGuiError
from vit_gui.images import IMAGE_SUFFIXES, find_images, load_image

#: photos per class whose patch tokens are kept for the parts (CRAFT factorises a sample of
#: crops too); 64 photos of the built-in backbone's 256 tokens of 384 numbers are 12.6 MB
PARTS_PHOTOS = 64
BATCH = 8

Progress = Callable[[int, int, "float | None"], None]  # (done, total, seconds left or None)


class AuditCancelled(VitGuiError):
    """The user stopped the audit; nothing was written."""


@dataclass
class Folder:
    """What an audit reads: photos with their class, or with none (the model's answer decides)."""

    paths: list[Path]
    truth: list[int | None]  # class index in `classes`, None when the folder has no class folders
    classes: list[str]  # class folders' names; empty for any photos
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the folder was read, where a reader might not expect it


def read_folder(folder: Path) -> Folder:
    """Class folders when `folder` holds no photos itself and two or more subfolders hold
    some; else every photo under it (recursively), classes to come from the model (a single
    class folder is said so in the notes: its name would otherwise vanish unexplained)."""
    from vit_gui.teach.data import read_class_folders

    folder = Path(folder)
    if not folder.is_dir():
        raise VitGuiError(f"{folder} is not a folder")
    own = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    holders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and find_images([p])]
    if not own and len(holders) >= 2:
        data = read_class_folders([folder])
        return Folder([p for p, _ in data.items], [c for _, c in data.items], data.classes, data.skipped)
    skipped: list = []
    paths = find_images([folder], skipped=skipped)
    notes = [] if own or len(holders) != 1 else [
        f"only one class folder ({holders[0].name}): a class is only told apart from others, so its photos are "
        "grouped by the model's answers instead; put each class in a folder of its own, two or more"]
    return Folder(paths, [None] * len(paths), [], skipped, notes)


@dataclass
class Collected:
    """Each readable photo's evidence and class (index into `classes`); failures with reasons."""

    paths: list[Path]
    labels: list[int]
    evidence: list[PhotoEvidence]
    classes: list[str]
    failed: list[tuple[Path, str]]
    seconds: float
    #: per class: the model's label whose evidence its maps show; None where they show each
    #: photo's own answer (a class folder that names none of the model's classes) or no class
    #: at all (a backbone)
    mapped_to: list[str | None] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the folder's (Folder.notes)


def model_class_for(name: str, labels: tuple[str, ...]) -> int | None:
    """The model's class that a folder's name names (case and spacing aside), else None."""
    wanted = " ".join(name.split()).casefold()
    for index, label in enumerate(labels):
        if " ".join(str(label).split()).casefold() == wanted:
            return index
    return None


def collect(predictor, folder: Folder, progress: Progress | None = None,
            cancelled: Callable[[], bool] | None = None, seed: int = 0, batch: int = BATCH,
            kind: str = "gradcam") -> Collected:
    """Run every photo once. With class folders and a classifier, the map explains the
    folder's class where the model has a class of that name, else the model's answer."""
    backbone = predictor.info.architecture.is_backbone
    if backbone and not folder.classes:
        found = "; the folder chosen holds only one" if folder.notes else ""
        raise VitGuiError("this model has no classes of its own, so the check compares the classes of your "
                          f"folders: choose a folder that holds two or more class folders, one a class{found}")
    labels_of_model = predictor.info.labels
    mapped = [model_class_for(name, labels_of_model) if not backbone else None for name in folder.classes]
    evidence = Evidence(predictor, kind)
    rng = random.Random(seed)
    seen: dict[int, int] = {}  # class -> photos seen (reservoir sampling)
    held: dict[int, list[int]] = {}  # class -> indices of `kept` that hold tokens
    kept_paths, kept_labels, kept_evidence, failed = [], [], [], []
    started, total = time.monotonic(), len(folder.paths)
    for start in range(0, total, batch):
        if cancelled and cancelled():
            raise AuditCancelled("the audit was cancelled: nothing was written")
        images, rows = [], []
        for i in range(start, min(start + batch, total)):
            try:
                images.append(load_image(folder.paths[i]).image)
                rows.append(i)
            except VitGuiError as exc:
                failed.append((folder.paths[i], str(exc)))
        if images:
            wanted = [None if folder.truth[i] is None else mapped[folder.truth[i]] for i in rows]
            try:
                found = evidence.batch(images, wanted, [True] * len(images))
            except VitGuiError:
                found = _one_by_one(evidence, images, wanted, rows, folder.paths, failed)
            for i, item in zip(rows, found):
                if item is None:
                    continue
                label = folder.truth[i] if folder.truth[i] is not None else item.answer
                _reservoir(rng, seen, held, label, len(kept_evidence), item, kept_evidence)
                kept_paths.append(folder.paths[i])
                kept_labels.append(label)
                kept_evidence.append(item)
        if progress:
            done = min(start + batch, total)
            elapsed = time.monotonic() - started
            progress(done, total, elapsed / done * (total - done) if done else None)
    classes = folder.classes or [str(name) for name in labels_of_model]
    if not folder.classes:  # grouped by the model's answer: each class's maps explain that class
        mapped_to = [None if backbone else name for name in classes]
    else:
        mapped_to = [None if m is None else str(labels_of_model[m]) for m in mapped]
    return Collected(kept_paths, kept_labels, kept_evidence, classes, failed + list(folder.skipped),
                     time.monotonic() - started, mapped_to, list(folder.notes))


def _one_by_one(evidence, images, wanted, rows, paths, failed) -> list:
    """A batch the model failed on, photo by photo: one bad photo is left out, with its reason."""
    found = []
    for image, want, i in zip(images, wanted, rows):
        try:
            found.append(evidence.batch([image], [want], [True])[0])
        except VitGuiError as exc:
            failed.append((paths[i], str(exc)))
            found.append(None)
    return found


def _reservoir(rng, seen, held, label, index, item, kept_evidence) -> None:
    """Keep `item`'s tokens if it enters its class's sample of PARTS_PHOTOS; drop the tokens
    of the photo it replaces."""
    seen[label] = seen.get(label, 0) + 1
    sample = held.setdefault(label, [])
    if len(sample) < PARTS_PHOTOS:
        sample.append(index)
        return
    slot = rng.randrange(seen[label])
    if slot < PARTS_PHOTOS:
        kept_evidence[sample[slot]].tokens = None
        sample[slot] = index
    else:
        item.tokens = None

"""Validation photos that are also training photos, or repeat another validation photo: the
same file (device and inode: a symlink, a hard link, `cp -al`) or the same bytes under another
name. Checking a classifier on photos it learned from reports what it remembers, not what it
can do (`--val-dir` naming the training folder scored 100% on random noise), and a photo in
validation twice counts twice, so the repeats are dropped and the user is told which."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

SHOWN = 3  # repeats named in a message; the rest are counted


@dataclass(frozen=True)
class Repeat:
    twin: Path  # the photo it repeats
    how: str  # "the same file" or "the same bytes"
    within: bool  # the twin is a validation photo too (so this one is counted once), not a training one
    label: int  # the twin's class


def repeats(train: list[tuple[Path, int]], val: list[tuple[Path, int]]) -> dict[int, Repeat]:
    """{index in `val`: what it repeats}, the training photos first, then the validation
    photos before it. Empty files and what is not a regular file are never matched (an empty
    file is no photo to repeat: it is left out as empty when read)."""
    pool = _Pool()
    for path, label in train:
        pool.add(path, label, within=False)
    found = {}
    for i, (path, label) in enumerate(val):
        if (hit := pool.match(path)) is not None:
            found[i] = hit
        else:
            pool.add(path, label, within=True)
    return found


class _Pool:
    """Photos seen so far: by file identity, which costs one stat, and by content, hashed only
    for a size that another photo has, and only when such a photo comes."""

    def __init__(self):
        self.files: dict[tuple[int, int], tuple[Path, int, bool]] = {}
        self.unhashed: dict[int, list[tuple[Path, tuple[int, int], int, bool]]] = {}  # size -> photos
        self.by_digest: dict[int, dict[str, tuple[Path, int, bool]]] = {}  # size -> {digest: photo}
        self.memo: dict[tuple[int, int], str | None] = {}

    def add(self, path: Path, label: int, within: bool) -> None:
        if (status := _status(path)) is None:
            return
        key = (status.st_dev, status.st_ino)
        self.files.setdefault(key, (path, label, within))
        self.unhashed.setdefault(status.st_size, []).append((path, key, label, within))

    def match(self, path: Path) -> Repeat | None:
        if (status := _status(path)) is None:
            return None
        key, size = (status.st_dev, status.st_ino), status.st_size
        if (hit := self.files.get(key)) is not None:
            return Repeat(hit[0], "the same file", hit[2], hit[1])
        if size not in self.unhashed and size not in self.by_digest:
            return None
        group = self.by_digest.setdefault(size, {})
        for twin, twin_key, label, within in self.unhashed.pop(size, []):
            if (digest := _digest(twin, twin_key, self.memo)) is not None:
                group.setdefault(digest, (twin, label, within))
        digest = _digest(path, key, self.memo)
        if digest is None or digest not in group:
            return None
        twin, label, within = group[digest]
        return Repeat(twin, "the same bytes", within, label)


def repeat_notes(val: list[tuple[Path, int]], found: dict[int, Repeat], classes: list[str], readable: int,
                 nothing_left: str | None) -> list[str]:
    """What the user is told: how many validation photos are training photos, and how many
    repeat other validation photos, with the first few named; `nothing_left` (the advice) ends
    the last note when no photo is left to check on, so that is said once."""
    notes = []
    training = sorted((i, r) for i, r in found.items() if not r.within)
    if training:
        notes.append(f"{len(training)} of the {readable} validation photos are also training photos and were left "
                     "out of validation, so the classifier is not checked on photos it learned from: "
                     + _named(val, training, classes))
    within = sorted((i, r) for i, r in found.items() if r.within)
    if within:
        notes.append(f"{len(within)} validation photo{'s' if len(within) > 1 else ''} repeat other validation photos "
                     "and were counted once: " + _named(val, within, classes))
    if notes and nothing_left:
        notes[-1] += (". Nothing is left to check the classifier on, so how well it does on new photos is unknown: "
                      + nothing_left)
    return notes


def _named(val: list[tuple[Path, int]], found: list[tuple[int, Repeat]], classes: list[str]) -> str:
    def one(i: int, r: Repeat) -> str:
        elsewhere = f", under {classes[r.label]}" if r.label != val[i][1] else ""
        return f"{_short(val[i][0])} ({r.how} as {_short(r.twin)}{elsewhere})"

    more = f", and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return "; ".join(one(i, r) for i, r in found[:SHOWN]) + more


def _short(path: Path) -> str:
    """A photo as the user knows it: its folder's folder, its class folder and its name (a
    full temporary path fills the report with what says nothing)."""
    return str(Path(*Path(path).parts[-3:]))


def _status(path: Path) -> os.stat_result | None:
    """A non-empty regular file's status; None for what is never compared (unreadable, empty,
    or a named pipe, which would block)."""
    try:
        status = os.stat(path)
    except OSError:
        return None  # left out, with its reason, when the features are read
    return status if stat.S_ISREG(status.st_mode) and status.st_size > 0 else None


def _digest(path: Path, key: tuple[int, int], memo: dict) -> str | None:
    if key not in memo:
        try:
            digest = hashlib.sha256()
            with open(path, "rb") as stream:
                while block := stream.read(1 << 20):
                    digest.update(block)
            memo[key] = digest.hexdigest()
        except OSError:
            memo[key] = None
    return memo[key]

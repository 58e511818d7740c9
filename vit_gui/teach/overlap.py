"""Validation photos that are also training photos: the same file (by its real path) or the
same bytes under another name. Checking a classifier on photos it learned from reports
what it remembers, not what it can do (`--val-dir` naming the training folder scored 100%
on random noise), so they are dropped from validation and the user is told which."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

SHOWN = 3  # repeats named in the message; the rest are counted


def repeats(train: list[tuple[Path, int]], val: list[tuple[Path, int]]) -> dict[int, tuple[Path, str]]:
    """{index in `val`: (the training photo it repeats, "the same file" or "the same bytes")}.
    Only files whose size matches a photo on the other side are read and hashed."""
    by_real = {}
    for path, _ in train:
        by_real.setdefault(os.path.realpath(path), path)
    found = {}
    for i, (path, _) in enumerate(val):
        if (twin := by_real.get(os.path.realpath(path))) is not None:
            found[i] = (twin, "the same file")
    train_sizes: dict[int, list[Path]] = {}
    for path, _ in train:
        if (size := _size(path)) is not None:
            train_sizes.setdefault(size, []).append(path)
    digests: dict[str, str | None] = {}
    by_digest: dict[int, dict[str, Path]] = {}  # size -> {digest: training photo}, filled when first asked
    for i, (path, _) in enumerate(val):
        size = _size(path)
        if i in found or size not in train_sizes:
            continue
        if size not in by_digest:
            by_digest[size] = {}
            for twin in train_sizes[size]:
                if (digest := _digest(twin, digests)) is not None:
                    by_digest[size].setdefault(digest, twin)
        digest = _digest(path, digests)
        if digest is not None and digest in by_digest[size]:
            found[i] = (by_digest[size][digest], "the same bytes")
    return found


def drop_repeats(train: list[tuple[Path, int]], val: list[tuple[Path, int]]) -> tuple[list, str | None]:
    """(validation less the repeats of training photos, a message saying how many and which,
    or None when there were none)."""
    found = repeats(train, val)
    if not found:
        return val, None
    kept = [item for i, item in enumerate(val) if i not in found]
    named = [f"{val[i][0]} ({how} as {twin})" for i, (twin, how) in sorted(found.items())[:SHOWN]]
    more = f", and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    message = (f"{len(found)} of the {len(val)} validation photos are also training photos and were left out of "
               f"validation, so the classifier is not checked on photos it learned from: {'; '.join(named)}{more}")
    if not kept:
        message += (". Nothing is left to check the classifier on: give a validation folder of other photos, or "
                    "none, to keep a share of each class aside")
    return kept, message


def _size(path: Path) -> int | None:
    """A regular file's size; None for what is never opened here (a named pipe would block)."""
    try:
        status = os.stat(path)
    except OSError:
        return None  # unreadable: left out, with its reason, when the features are read
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _digest(path: Path, memo: dict[str, str | None]) -> str | None:
    key = os.path.realpath(path)
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

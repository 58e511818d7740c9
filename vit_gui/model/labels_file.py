"""A model's class names as a text file, one per line (a sidecar's `labels_file`, the seed
project's `cls_classes.txt`), read defensively: a regular file, UTF-8, blank inner lines
kept as unnamed classes, lines split where the seed project splits them."""

from __future__ import annotations

from pathlib import Path

from vit_gui.errors import ModelConfigError
from vit_gui.file_kinds import require_regular_file


def read_labels_file(path: Path) -> list[str]:
    """One class name per line; trailing blank lines ignored, inner ones kept as unnamed."""
    require_regular_file(path, ModelConfigError, "labels file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelConfigError(f"cannot read labels file {path.name}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelConfigError(f"labels file {path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    # lines end at \n, \r\n or \r only, as the seed project's text-mode readlines() reads them:
    # str.splitlines() would also split a name at a form feed, U+2028 and the like
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():  # trailing blank lines, whitespace-only ones too (\f, spaces)
        lines.pop()
    return lines

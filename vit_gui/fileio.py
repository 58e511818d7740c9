"""Atomic file writes: a crash or a full disk never leaves a half-written result behind."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    """Write to a temporary file in the same folder, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_image(path: Path | str, image, format: str = "PNG") -> Path:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return atomic_write_bytes(path, buffer.getvalue())


def atomic_save_npy(path: Path | str, array) -> Path:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())

"""Where converted graphs are kept between runs: one folder per key, checked before it is
read, written whole or not at all, and trimmed to a size budget, the least recently used
first.

Why a budget: every model, format and input size a user tries leaves a graph (the
built-in ViT-S in float32 is about 90 MB a graph, two graphs a format), and a cache nobody
trims fills a laptop's disk. Losing a graph only costs a few seconds of conversion.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BUDGET_BYTES = 2 * 1024**3  # VIT_GUI_ENGINE_CACHE_MB overrides
DIGEST = "digest.json"


def cache_root() -> Path:
    """Converted graphs: VIT_GUI_ENGINE_CACHE, else the per-user data folder's `openvino`."""
    from vit_gui.resources import user_data_dir

    override = os.environ.get("VIT_GUI_ENGINE_CACHE")
    return Path(override) if override else user_data_dir() / "openvino"


def budget() -> int:
    """VIT_GUI_ENGINE_CACHE_MB in bytes ("inf": no limit; 0: keep only the graph in use),
    else BUDGET_BYTES; a value that is not a number of megabytes is ignored."""
    try:
        megabytes = float(os.environ["VIT_GUI_ENGINE_CACHE_MB"])
    except (KeyError, ValueError):
        return BUDGET_BYTES
    if megabytes != megabytes or megabytes < 0:  # NaN, or negative
        return BUDGET_BYTES
    return sys.maxsize if megabytes == float("inf") else int(min(megabytes * 1024**2, sys.maxsize))


def folder_for(root: Path, key: str) -> Path:
    return root / key[:32]


def read(root: Path, key: str, reader: Callable[[Path], object]):
    """`reader(folder)` when the folder's digest names `key` (and marks it used), else None."""
    folder = folder_for(root, key)
    try:
        if json.loads((folder / DIGEST).read_text())["key"] != key:
            return None
        found = reader(folder)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):  # OpenVINO's reader raises RuntimeError
        return None
    try:
        os.utime(folder / DIGEST)  # used now: trimmed last
    except OSError:
        pass
    return found


def write(root: Path, key: str, details: dict, writer: Callable[[Path], None]) -> None:
    """`writer(staging)` into a temporary folder, renamed into place once whole, then the
    cache trimmed to its budget; a cache that cannot be written (a full disk, a read-only
    folder) leaves nothing behind and is only a lost speed-up."""
    staging = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
        writer(staging)
        (staging / DIGEST).write_text(json.dumps({"key": key, **details}))
        folder = folder_for(root, key)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
        trim(root, budget(), keep=folder)
    except (OSError, RuntimeError):  # OpenVINO's writer raises RuntimeError
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def trim(root: Path, limit: int, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used graphs until the cache holds at most `limit` bytes;
    `keep` (the graph just written) stays. A graph is first renamed out of the way, so one
    that another process has open (Windows refuses the rename) is left whole and the next
    one is tried; what a removal left behind, and staging folders older than a day (a killed
    conversion), go too. Returns the graphs removed."""
    removed, graphs = [], []
    for folder in (p for p in root.iterdir() if p.is_dir()):
        try:
            if folder.name.startswith(".removing-"):
                shutil.rmtree(folder, ignore_errors=True)
            elif folder.name.startswith(".converting-"):
                if time.time() - folder.stat().st_mtime > 86400:
                    shutil.rmtree(folder, ignore_errors=True)
            else:
                graphs.append(((folder / DIGEST).stat().st_mtime, size_of(folder), folder))
        except OSError:
            continue  # another process is writing or removing it
    total = sum(size for _, size, _ in graphs)
    for _, size, folder in sorted(graphs, key=lambda g: g[0]):
        if total <= limit:
            break
        if keep is not None and folder == keep:
            continue
        doomed = folder.with_name(f".removing-{folder.name}")
        try:
            os.replace(folder, doomed)
        except OSError:
            continue  # in use (Windows) or already gone: not counted as removed
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(folder)
        total -= size
    return removed

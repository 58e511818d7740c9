"""Download a catalogue model: progress, cancel, resume, verification, atomic install.

Bytes arrive in `<data>/downloads/<file>.part`, outside the models folder, so discovery
never sees a half-written model. An interrupted or cancelled download keeps its part
file and resumes with an HTTP Range request. Only a file that has the announced size,
the catalogue's SHA-256 (where recorded), and parses as the expected architecture is
moved into `<data>/models/`, with its sidecar written first.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from vit_gui.errors import CheckpointError, ModelConfigError, VitGuiError
from vit_gui.fileio import atomic_write_text
from vit_gui.model.catalog import KnownModel, user_models_dir
from vit_gui.resources import user_data_dir

CHUNK = 1 << 20
SIZE_TOLERANCE = 0.01  # the file is the float32 weights plus a small header

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class DownloadError(VitGuiError):
    """A download failed; the message says why and whether running again resumes it."""


class DownloadCancelled(VitGuiError):
    """The user cancelled; the part file is kept so a later download resumes."""


def partial_path(model: KnownModel, data_dir: Path | None = None) -> Path:
    return (data_dir or user_data_dir()) / "downloads" / f"{model.filename}.part"


def installed_path(model: KnownModel, data_dir: Path | None = None) -> Path:
    return (data_dir / "models" if data_dir else user_models_dir()) / model.filename


def download_model(
    model: KnownModel,
    *,
    url: str | None = None,
    data_dir: Path | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch, verify and install `model`; returns the installed weights' path.

    `url` overrides the catalogue's source (a mirror); `cancelled` is polled between
    chunks and raises DownloadCancelled when it returns True.
    """
    part = partial_path(model, data_dir)
    final = installed_path(model, data_dir)
    part.parent.mkdir(parents=True, exist_ok=True)
    _fetch(url or model.url, part, progress or (lambda done, total: None), cancelled or (lambda: False), timeout)
    try:
        verify(part, model)
    except DownloadError:
        part.unlink(missing_ok=True)  # wrong bytes: resuming them cannot help
        raise
    final.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(final.with_name(final.name + ".json"), json.dumps(model.sidecar(), indent=1))
    os.replace(part, final)
    return final


def _fetch(url: str, part: Path, progress: Progress, cancelled: Callable[[], bool], timeout: float) -> None:
    for attempt in range(2):  # a second go from zero when the server rejects our range
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": "vit-gui", **({"Range": f"bytes={have}-"} if have else {})}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
                _stream(response, part, have, progress, cancelled)
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and attempt == 0:  # our part is not a prefix the server knows
                part.unlink(missing_ok=True)
                continue
            raise DownloadError(f"the server answered {exc.code} {exc.reason} for {url}") from None
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DownloadError(f"download interrupted ({reason}); run it again to resume") from None
        except OSError as exc:  # e.g. the disk is full or the folder is read-only
            raise DownloadError(f"download failed ({exc.strerror or exc}); run it again to resume") from None


def _stream(response, part: Path, have: int, progress: Progress, cancelled: Callable[[], bool]) -> None:
    if have and response.status == 206:
        match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != have:
            raise DownloadError("the server resumed at the wrong place; delete the partial download and retry")
        total = int(match.group(2)) if match.group(2) != "*" else None
        mode = "ab"
    else:  # a fresh download, or a server that ignores ranges and sends it all again
        have, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
    done = have
    progress(done, total)
    with part.open(mode) as fh:
        while True:
            if cancelled():
                raise DownloadCancelled("download cancelled; starting it again resumes where it stopped")
            chunk = response.read(CHUNK)
            if not chunk:
                break
            fh.write(chunk)
            done += len(chunk)
            progress(done, total)
    if total is not None and done != total:
        raise DownloadError(f"download interrupted at {done} of {total} bytes; run it again to resume")


def verify(path: Path, model: KnownModel) -> None:
    """Size, SHA-256 (where recorded) and shapes; raises DownloadError naming the mismatch."""
    size = path.stat().st_size
    if abs(size - model.approx_bytes) > SIZE_TOLERANCE * model.approx_bytes:
        raise DownloadError(
            f"downloaded file has {size:,} bytes, expected about {model.approx_bytes:,} for {model.title}"
        )
    if model.sha256:
        digest = sha256_of(path)
        if digest != model.sha256:
            raise DownloadError(f"downloaded file is corrupt (SHA-256 {digest[:12]}…, expected {model.sha256[:12]}…)")
    check_architecture(path, model)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_architecture(path: Path, model: KnownModel) -> None:
    """The file must parse (safely) as exactly the catalogue's architecture."""
    from vit_gui.model import checkpoints

    try:
        state, arch, _ = checkpoints.read_checkpoint(path, {"num_heads": model.num_heads})
        checkpoints.build_model(state, arch)  # every tensor present with the right shape
    except (CheckpointError, ModelConfigError) as exc:
        raise DownloadError(f"downloaded file is not a valid {model.title} checkpoint: {exc}") from None
    grid = model.input_size // model.patch_size
    expected = (model.depth, model.embed_dim, model.patch_size, (grid, grid), model.num_classes,
                model.registers, model.distilled)
    found = (arch.depth, arch.embed_dim, arch.patch_size, arch.grid, arch.num_classes,
             arch.num_reg_tokens, arch.dist_token)
    if found != expected:
        raise DownloadError(
            "downloaded file is a different model (depth, width, patch, grid, classes, registers, distilled = "
            f"{found}, expected {expected})"
        )

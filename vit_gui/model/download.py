"""Download a catalogue model: progress, cancel, resume, verification, atomic install.

Bytes arrive in `<data>/downloads/<file>.part`, outside the models folder, so discovery
never sees a half-written model. An interrupted or cancelled download keeps its part
file and resumes with an HTTP Range request. Only a file that has the announced size,
the catalogue's SHA-256 (where recorded), and parses as the expected architecture is
moved into `<data>/models/`, with its sidecar written first. A source is an http(s)://
address or a file:// one (a mirror in a local folder); nothing else is tried.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from vit_gui.errors import CheckpointError, ModelConfigError, VitGuiError
from vit_gui.fileio import atomic_write_text
from vit_gui.model.catalog import KnownModel, user_models_dir
from vit_gui.resources import user_data_dir

CHUNK = 1 << 16  # small reads: progress and cancel are checked often
SIZE_TOLERANCE = 0.01  # the file is the float32 weights plus a small header
EXTRA_BYTES = 1 << 20  # a safetensors header is far smaller than this
STALL_SECONDS, STALL_BYTES = 30.0, 16 * 1024  # less than this in that long: the transfer has stalled
MIN_RATE, CONNECT_SECONDS = 50_000, 60.0  # the overall deadline: a minute, plus the size at 50 kB/s
WATCH_EVERY = 0.2  # seconds between the watchdog's looks: cancel acts within this

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
    check_url(url or model.url)
    part = partial_path(model, data_dir)
    final = installed_path(model, data_dir)
    part.parent.mkdir(parents=True, exist_ok=True)
    limit = int(model.approx_bytes * (1 + SIZE_TOLERANCE)) + EXTRA_BYTES
    watchdog = Watchdog(cancelled or (lambda: False), deadline=CONNECT_SECONDS + limit / MIN_RATE)
    try:
        _fetch(url or model.url, part, progress or (lambda done, total: None), watchdog, timeout, limit)
    finally:
        watchdog.stop()
    try:
        verify(part, model)
    except DownloadError:
        part.unlink(missing_ok=True)  # wrong bytes: resuming them cannot help
        raise
    final.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(final.with_name(final.name + ".json"), json.dumps(model.sidecar(), indent=1))
    os.replace(part, final)
    return final


def check_url(url: str) -> None:
    """Refuse, in words, an address urllib would only fail on later as 'could not be reached'."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ("http", "https", "file"):
        raise DownloadError(f"{url} is not an http://, https:// or file:// address (a file:// one names a model "
                            "file in a local mirror folder); nothing was downloaded")
    if parts.scheme.lower() != "file" and not parts.hostname:
        raise DownloadError(f"{url} names no server; nothing was downloaded")


class Watchdog:
    """Watches a transfer from its own thread and cuts the connection (shutting its socket,
    which wakes a blocked read at once) when the user cancels, when the transfer stalls
    (a trickle of bytes defeats a per-read timeout), or when the overall deadline passes."""

    def __init__(self, cancelled: Callable[[], bool], deadline: float):
        self.cancelled, self.deadline = cancelled, time.monotonic() + deadline
        self.reason: VitGuiError | None = None
        self.response = None
        self.received, self._mark = 0, (time.monotonic(), 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="download-watchdog", daemon=True)
        self._thread.start()

    def watch(self, response) -> None:
        self.response, self._mark = response, (time.monotonic(), self.received)

    def got(self, count: int) -> None:
        self.received += count

    def check(self) -> None:
        """Raise the reason the transfer was cut, if it was."""
        if self.reason is None and self.cancelled():
            self.reason = DownloadCancelled(CANCELLED)
        if self.reason is not None:
            raise self.reason

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_EVERY):
            now = time.monotonic()
            since, at = self._mark
            if self.received - at >= STALL_BYTES:
                self._mark = (now, self.received)
            if self.cancelled():
                self._cut(DownloadCancelled(CANCELLED))
            elif now > self.deadline:
                self._cut(DownloadError("the download took too long and was stopped; run it again to resume"))
            elif self.response is not None and now - since > STALL_SECONDS:
                self._cut(DownloadError(f"the download stalled (under {STALL_BYTES // 1024} kB in "
                                        f"{STALL_SECONDS:.0f} s) and was stopped; run it again to resume"))

    def _cut(self, reason: VitGuiError) -> None:
        if self.reason is None:
            self.reason = reason
        sock = getattr(getattr(getattr(self.response, "fp", None), "raw", None), "_sock", None)
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            elif self.response is not None:
                self.response.close()
        except OSError:
            pass


CANCELLED = "download cancelled; starting it again resumes where it stopped"


def _fetch(url: str, part: Path, progress: Progress, watchdog: Watchdog, timeout: float, limit: int) -> None:
    for attempt in range(2):  # a second go from zero when the server rejects our range
        have = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": "vit-gui", **({"Range": f"bytes={have}-"} if have else {})}
        response = None
        try:
            watchdog.check()
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
                watchdog.watch(response)
                _stream(response, part, have, progress, watchdog, limit)
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and attempt == 0:  # our part is not a prefix the server knows
                part.unlink(missing_ok=True)
                continue
            raise DownloadError(f"the server answered {exc.code} {str(exc.reason)[:80]} for {url}") from None
        except urllib.error.URLError as exc:  # raised before any byte came: the server was never reached
            watchdog.check()
            raise DownloadError(unreachable(url, exc.reason, have)) from None
        except (http.client.HTTPException, TimeoutError, ConnectionError, ValueError) as exc:
            watchdog.check()  # the watchdog cut it: say why
            if response is None:  # closed or silent before any answer: no download began, none to resume
                raise DownloadError(unreachable(url, exc, have)) from None
            reason = getattr(exc, "reason", None) or exc
            raise DownloadError(f"download interrupted ({reason}); run it again to resume") from None
        except OSError as exc:  # e.g. the disk is full or the folder is read-only
            watchdog.check()
            raise DownloadError(f"download failed ({exc.strerror or exc}); run it again to resume") from None


def unreachable(url: str, reason, have: int = 0) -> str:
    """Why the source could not be reached, in words: offline, a download that never began
    is no 'interrupted' one and has nothing to resume."""
    parts = urllib.parse.urlsplit(url)
    host, check = parts.hostname or url, "Check the connection"
    if parts.scheme.lower() == "file":
        path = urllib.request.url2pathname(parts.path)
        cause, check = f"{path} cannot be read ({getattr(reason, 'strerror', None) or reason})", "Check the address"
    elif isinstance(reason, socket.gaierror):
        cause = f"no network (or no such server: the name {host} cannot be looked up)"
    elif isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH):
        cause = f"no network ({host} cannot be reached)"
    elif isinstance(reason, ConnectionRefusedError):
        cause = f"{host} refused the connection (no server is answering there)"
    elif isinstance(reason, (ConnectionResetError, ConnectionAbortedError, http.client.RemoteDisconnected)):
        cause = f"{host} closed the connection without answering (the server is down, busy or refused the request)"
    elif isinstance(reason, TimeoutError) or "timed out" in str(reason):
        cause = f"{host} did not answer (no network, or the server is down)"
    else:
        cause = f"{host} could not be reached ({getattr(reason, 'strerror', None) or reason})"
    if have:
        return (f"download failed before it began: {cause}. The {have / 1e6:.1f} MB downloaded earlier are kept: once "
                "the source can be reached, run it again to resume")
    return f"download failed before it began: {cause}; nothing was downloaded. {check} and run it again"


def _stream(response, part: Path, have: int, progress: Progress, watchdog: Watchdog, limit: int) -> None:
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
    if total is not None and total > limit:
        raise DownloadError(f"the server announces {total:,} bytes for a model of about {limit:,}; not downloaded")
    done = have
    progress(done, total)
    with part.open(mode) as fh:
        while True:
            watchdog.check()
            chunk = response.read(CHUNK)
            if not chunk:
                break
            fh.write(chunk)
            done += len(chunk)
            watchdog.got(len(chunk))
            if done > limit:  # an endless body: stop at the expected size and a margin
                break
            progress(done, total)
    if done > limit:
        part.unlink(missing_ok=True)
        raise DownloadError(f"the server sent more than the {limit:,} bytes this model can have; stopped")
    watchdog.check()
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

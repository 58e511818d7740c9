"""`--resume`: read what a results file already holds, before the model loads, without
trusting it.

The file is read a line at a time (memory follows the photos, not the file) and every line
must be one of our results: a line nested 100,000 deep, a cell over the CSV limit or random
bytes end the command with a message naming the line, never a traceback. Photos are matched
by their absolute path, so `photos/a.jpg` and `/home/me/photos/a.jpg` are one photo. Photos
that failed are tried again: their lines are taken out (the file rewritten atomically)
before the new ones are added. Only a cut-off last line (what a kill leaves) is ever cut.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINE = 16 * 1024 * 1024  # a results line is a few hundred bytes; a maps-heavy one a few KB


def photo_key(path: str) -> str:
    """One photo, however its path was typed (relative or absolute, with ./ or ../)."""
    return os.path.abspath(path)


@dataclass
class Finished:
    """What a results file holds: the photos done, those that failed (to be tried again),
    and the map files its records name (a photo done again may reuse only its own)."""

    path: Path
    fmt: str
    columns: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    claimed_maps: set[str] = field(default_factory=set)
    keys_seen: set[str] = field(default_factory=set)  # JSON Lines: the keys its records have
    cut_at: int | None = None  # where a cut-off last line starts

    @property
    def count(self) -> int:
        return len(self.done) + len(self.failed)


def read_finished(path: Path, fmt: str) -> Finished:
    """ValueError (naming the line) for anything that is not our results."""
    found = Finished(path, fmt)
    offset, number = 0, 0
    with open(path, "rb") as stream:
        while True:
            line = stream.readline(MAX_LINE + 1)
            if not line:
                break
            number += 1
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    raise ValueError(f"line {number} of {path} is over {MAX_LINE // 2**20} MB: not a results line")
                _check_cut_line(path, fmt, line, number)
                found.cut_at = offset
                break
            offset += len(line)
            _read_line(found, line, number)
    return found


def _fail(path: Path, number: int, why: str) -> ValueError:
    return ValueError(f"line {number} of {path} is not a result of vit-gui ({why}); it cannot be resumed safely: "
                      "name a new -o file")


def _decode(path: Path, line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, number, "not UTF-8 text") from None


def _read_line(found: Finished, line: bytes, number: int) -> None:
    text = _decode(found.path, line, number).rstrip("\r\n")
    if found.fmt == "csv":
        _read_csv_line(found, text, number)
        return
    if not text.strip():
        return
    try:
        record = json.loads(text)
    except RecursionError:
        raise _fail(found.path, number, "nested too deep") from None
    except ValueError as exc:
        raise _fail(found.path, number, f"not JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise _fail(found.path, number, "no photo path")
    found.keys_seen.update(record)
    key = photo_key(record["path"])
    (found.failed if record.get("error") else found.done).add(key)
    maps = record.get("maps")
    if isinstance(maps, dict):
        found.claimed_maps.update(photo_key(str(maps[k])) for k in ("npy", "overlay") if k in maps)


def _read_csv_line(found: Finished, text: str, number: int) -> None:
    from vit_gui.results_csv import OVERLAY, unsafe_cell

    try:
        row = next(csv.reader([text]), [])
    except csv.Error as exc:
        raise _fail(found.path, number, f"not a CSV row: {exc}") from None
    if number == 1:
        found.columns = row
        return
    if len(row) != len(found.columns):
        raise _fail(found.path, number, f"{len(row)} cells under a header of {len(found.columns)}")
    cells = dict(zip(found.columns, row))
    key = photo_key(unsafe_cell(cells["path"]))
    (found.failed if cells["error"] and not cells["rank"] else found.done).add(key)
    if cells.get(OVERLAY):
        overlay = unsafe_cell(cells[OVERLAY])
        found.claimed_maps.update({photo_key(overlay), photo_key(overlay[: -len(".png")] + ".npy")})


def _check_cut_line(path: Path, fmt: str, tail: bytes, number: int) -> None:
    """A kill leaves at most a line cut short: for JSON Lines the start of one of our
    records; for CSV a row's start (text). Anything else is not ours to cut."""
    text = tail.decode("utf-8", errors="ignore")
    ours = text.lstrip().startswith('{"path"') if fmt == "jsonl" else "\x00" not in text and len(text) >= len(tail) - 3
    if not ours:
        raise ValueError(f"{path} ends with {len(tail)} bytes that are not a cut-off result (line {number}); "
                         "it cannot be resumed safely: name a new -o file")


def drop_for_resume(found: Finished, retry: set[str]) -> None:
    """Make the file ready to be added to: the cut-off last line removed, and the lines of
    the photos to `retry` taken out (written to a new file that replaces the old one only
    once complete, so a crash here loses nothing)."""
    if not retry:
        if found.cut_at is not None:
            with open(found.path, "r+b") as stream:
                stream.truncate(found.cut_at)
        return
    from vit_gui.fileio import replace_by_streaming

    def kept_lines(stream):
        for number, line in enumerate(iter(lambda: stream.readline(MAX_LINE + 1), b""), 1):
            if not line.endswith(b"\n"):
                return  # the cut-off last line
            if number == 1 and found.fmt == "csv" or _key_of(found, line) not in retry:
                yield line

    replace_by_streaming(found.path, kept_lines)


def _key_of(found: Finished, line: bytes) -> str | None:
    from vit_gui.results_csv import unsafe_cell

    text = line.decode("utf-8").rstrip("\r\n")
    if found.fmt == "csv":
        return photo_key(unsafe_cell(next(csv.reader([text]))[0]))
    return photo_key(json.loads(text)["path"]) if text.strip() else None

"""`--resume`: read what a results file already holds, before the model loads, without
trusting it.

The file is read a line at a time (memory follows the photos, not the file) and every line
must be one of our results: a line nested 100,000 deep, a cell over the CSV limit or random
bytes end the command with a message naming the line, never a traceback. Photos are matched
by their absolute path, so `photos/a.jpg` and `/home/me/photos/a.jpg` are one photo (a relative path is read
from the folder the run that wrote it ran in). Photos that failed are tried again: their
new line comes after the failed one, and a photo's last line is its result. The file is
only ever added to, never rewritten: what may be cut is a last line cut short by a kill
(JSON Lines), or the rows of the last photo of a CSV (a kill or a full disk may have left
only some of them), which is then done again.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINE = 16 * 1024 * 1024  # a results line is a few hundred bytes; a maps-heavy one a few KB


def photo_key(path: str, base: str | None = None) -> str:
    """One photo, however its path was typed (relative or absolute, with ./ or ../, through
    a linked folder); a relative path is read from `base` (default: here)."""
    return os.path.realpath(os.path.join(base or os.getcwd(), path))


@dataclass
class Finished:
    """What a results file holds: the photos done, those that failed (to be tried again),
    and the map files its records name (a photo done again may reuse only its own)."""

    path: Path
    fmt: str
    base: str | None = None  # the folder the run that wrote it ran in (relative paths)
    columns: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    claimed_maps: set[str] = field(default_factory=set)
    keys_seen: set[str] = field(default_factory=set)  # JSON Lines: the keys its records have
    cut_at: int | None = None  # where the file is to be cut (a cut-off line, a CSV's last photo)
    ends_without_newline: bool = False  # a whole last line, its newline lost


def read_finished(path: Path, fmt: str, base: str | None = None) -> Finished:
    """ValueError (naming the line) for anything that is not our results."""
    found = Finished(path, fmt, base)
    offset, number, last, last_start = 0, 0, None, None
    rows: dict[str, int] = {}  # CSV: rows per photo, to tell a last photo left with only some
    with open(path, "rb") as stream:
        while True:
            line = stream.readline(MAX_LINE + 1)
            if not line:
                break
            number += 1
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    raise ValueError(f"line {number} of {path} is over {MAX_LINE // 2**20} MB: not a results line")
                if fmt == "jsonl" and _whole_record(line):
                    found.ends_without_newline = True  # whole: kept, its newline added
                    _read_line(found, line, number)
                    break
                _check_cut_line(path, fmt, line, number)
                found.cut_at = offset
                break
            key = _read_line(found, line, number)
            if fmt == "csv" and key is not None:
                if key != last:
                    last, last_start, rows[key] = key, offset, 0
                rows[key] += 1
            offset += len(line)
    if last in found.done and rows[last] < max(rows[k] for k in found.done):
        # fewer rows than the other photos have: a kill or a full disk cut them; done again
        found.cut_at = last_start
        found.done.discard(last)
    return found


def _whole_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and isinstance(record.get("path"), str)


def _fail(path: Path, number: int, why: str) -> ValueError:
    return ValueError(f"line {number} of {path} is not a result of vit-gui ({why}); it cannot be resumed safely: "
                      "name a new -o file")


def _decode(path: Path, line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, number, "not UTF-8 text") from None


def _read_line(found: Finished, line: bytes, number: int) -> str | None:
    """Take one line in; the key of its photo (None for a header or a blank line). A
    photo's last line is its result."""
    text = _decode(found.path, line, number).rstrip("\r\n")
    if found.fmt == "csv":
        return _read_csv_line(found, text, number)
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except RecursionError:
        raise _fail(found.path, number, "nested too deep") from None
    except ValueError as exc:
        raise _fail(found.path, number, f"not JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise _fail(found.path, number, "no photo path")
    found.keys_seen.update(record)
    key = photo_key(record["path"], found.base)
    _settle(found, key, failed=bool(record.get("error")))
    maps = record.get("maps")
    if isinstance(maps, dict):
        found.claimed_maps.update(photo_key(str(maps[k]), found.base) for k in ("npy", "overlay") if k in maps)
    return key


def _settle(found: Finished, key: str, failed: bool) -> None:
    (found.failed if failed else found.done).add(key)
    (found.done if failed else found.failed).discard(key)


def _read_csv_line(found: Finished, text: str, number: int) -> str | None:
    from vit_gui.results_csv import OVERLAY, unsafe_cell

    try:
        row = next(csv.reader([text.removeprefix("\ufeff") if number == 1 else text]), [])
    except csv.Error as exc:
        raise _fail(found.path, number, f"not a CSV row: {exc}") from None
    if number == 1:
        found.columns = row
        return None
    if len(row) != len(found.columns):
        raise _fail(found.path, number, f"{len(row)} cells under a header of {len(found.columns)}")
    cells = dict(zip(found.columns, row))
    key = photo_key(unsafe_cell(cells["path"]), found.base)
    _settle(found, key, failed=bool(cells["error"] and not cells["rank"]))
    if cells.get(OVERLAY):
        overlay = unsafe_cell(cells[OVERLAY])
        found.claimed_maps.update({photo_key(overlay, found.base),
                                   photo_key(overlay[: -len(".png")] + ".npy", found.base)})
    return key


def _check_cut_line(path: Path, fmt: str, tail: bytes, number: int) -> None:
    """A kill leaves at most a line cut short: for JSON Lines the start of one of our
    records; for CSV a row's start (text). Anything else is not ours to cut."""
    text = tail.decode("utf-8", errors="ignore")
    ours = text.lstrip().startswith('{"path"') if fmt == "jsonl" else "\x00" not in text and len(text) >= len(tail) - 3
    if not ours:
        raise ValueError(f"{path} ends with {len(tail)} bytes that are not a cut-off result (line {number}); "
                         "it cannot be resumed safely: name a new -o file")


def ready_to_add(found: Finished) -> None:
    """Make the file ready to be added to: cut where read_finished said (a cut-off line, a
    CSV's last photo), or end a whole last line with its newline."""
    if found.cut_at is not None:
        with open(found.path, "r+b") as stream:
            stream.truncate(found.cut_at)
    elif found.ends_without_newline:
        with open(found.path, "ab") as stream:
            stream.write(b"\n")

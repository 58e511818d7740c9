"""Is this a results file that vit-gui wrote? -o may replace only such a file (or one the
user names with --force), and --resume continues only such a file.

Recognised by what it holds, never by its name: a CSV whose first line is our header, JSON
Lines whose first line is one of our records, a JSON list of our records. Anything else is
named in words (a JPEG photo, a model, a text file), so the refusal says what would have
been destroyed.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from vit_gui.results_csv import COLUMNS

HEAD_BYTES = 65536  # enough of a file to tell what it is
JSON_LIST_START = re.compile(rb'^\s*\[\s*(\]\s*$|\{\s*"path"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*"top"\s*:)')
RECORD_KEYS = {"path", "top", "error", "notes"}
MAGIC = (
    (b"\xff\xd8\xff", "a JPEG photo"), (b"\x89PNG\r\n\x1a\n", "a PNG picture"), (b"GIF8", "a GIF picture"),
    (b"II*\x00", "a TIFF picture"), (b"MM\x00*", "a TIFF picture"), (b"BM", "a BMP picture"),
    (b"PK\x03\x04", "a zip archive (a torch model?)"), (b"\x80\x02", "a torch model (pickle)"),
    (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a numpy array (.npy)"),
)
MODEL_SUFFIXES = {".pth", ".pt", ".bin", ".safetensors", ".npz", ".onnx"}


def results_kind(path: Path) -> str | None:
    """"csv", "jsonl" or "json" for a results file vit-gui wrote, "empty" for an empty
    file, None for anything else."""
    with open(path, "rb") as stream:
        head = stream.read(HEAD_BYTES)
    if not head:
        return "empty"
    head = head.removeprefix(b"\xef\xbb\xbf")  # a spreadsheet's byte-order mark
    first = head.split(b"\n", 1)[0]
    if first.rstrip(b"\r").split(b",")[: len(COLUMNS)] == [c.encode() for c in COLUMNS]:
        return "csv"
    if JSON_LIST_START.match(head):
        return "json"
    try:
        record = json.loads(first)
    except (ValueError, RecursionError):
        return None
    return "jsonl" if isinstance(record, dict) and RECORD_KEYS <= record.keys() else None


def what_file(path: Path) -> str:
    """What a file that is not our results is, in words."""
    with open(path, "rb") as stream:
        head = stream.read(HEAD_BYTES)
    if head[4:8] == b"ftyp":
        return "a HEIC or MP4 file"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP picture"
    for magic, words in MAGIC:
        if head.startswith(magic):
            return words
    if Path(path).suffix.lower() in MODEL_SUFFIXES:
        return "a model file"
    if len(head) >= 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "a model (.safetensors)"
    if b"\x00" in head:
        return "a binary file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut by the read
            return "a binary file"
    return "a text file"


def model_files(model: Path | None) -> list[Path]:
    """The files a model is made of: the file and its sidecar, or every file of its folder
    (a Hugging Face folder). -o may never name one of them."""
    if model is None:
        return []
    if model.is_dir():
        return [p for p in model.iterdir() if p.is_file()]
    real = Path(os.path.realpath(model))  # through a link: the real file's sidecar too
    return [model, model.with_name(model.name + ".json"), real.with_name(real.name + ".json")]


def output_problem(output: Path, inputs: list[Path], model: Path | None, force: bool, resume: bool) -> str | None:
    """Why results may not be written to `output`, or None. The photos and the model in use
    are never replaced; any other file that is not our results needs --force (and --resume
    continues only our results); so does a file where the run's record would go."""
    protected = [*inputs, *model_files(model)]
    if (problem := _record_problem(output, protected, force, resume)) is not None:
        return problem
    try:
        target = os.stat(output)
    except OSError:
        return None  # not there yet (or not reachable: writing will say so)
    for path in protected:
        if _same(target, path):
            what = ("one of the photos being classified" if path in inputs else "the model in use"
                    if path == model else "a file of the model in use")
            return f"-o {output} is {what} ({path}); writing the results there would destroy it: name another file"
    if not os.path.isfile(output):
        return f"--resume continues a results file of vit-gui; {output} is not a file" if resume else None
    if results_kind(output) is not None:
        return None  # ours (or empty): replaced once the new results are complete, or resumed
    what = what_file(output)
    if resume:
        return f"--resume continues a results file of vit-gui; {output} is {what}"
    if force:
        return None
    return (f"-o {output} is {what}, not a results file of vit-gui; writing there would destroy it: name another "
            "file, or add --force to replace it")


def _same(stat_result, path: Path) -> bool:
    try:
        return os.path.samestat(stat_result, os.stat(path))
    except OSError:
        return False


def _record_problem(output: Path, protected: list[Path], force: bool, resume: bool) -> str | None:
    """NAME.run.json beside the results: never a file of the model or a photo, and another
    file there only with --force."""
    from vit_gui.cli.run_record import foreign_record, record_path
    from vit_gui.fileio import link_target

    target = link_target(output)  # where Place writes the results, and so the record
    record = record_path(target)
    try:
        there = os.stat(record)
    except OSError:
        return None
    if any(_same(there, path) for path in protected):
        return (f"-o {output}: the record of the run would go to {record}, a file of the model in use or a photo: "
                "name another -o file")
    if (problem := foreign_record(target)) and not force:
        return problem + ("" if resume else " (--force replaces it)")
    return None

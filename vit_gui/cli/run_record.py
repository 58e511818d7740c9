"""What a results file was made with: the model (and a digest of its bytes) and the options
that change its lines, kept beside it as NAME.run.json. --resume compares the run it is
asked for with that record and refuses a difference, naming it, so one file never mixes
two models or two shapes of line (a 7-column header over 15-column rows)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from vit_gui import __version__

#: the options whose change makes different lines (columns, classes, maps, figures)
OPTIONS = ("top_k", "precision", "map_kind", "fusion", "discard_ratio", "start_block", "block", "head",
           "class_index", "faithfulness", "removal", "sanity")
FLAGS = {"top_k": "--top-k", "precision": "--precision", "map_kind": "--map", "fusion": "--fusion",
         "discard_ratio": "--discard", "start_block": "--from-block", "block": "--layer", "head": "--head",
         "class_index": "--class-index", "faithfulness": "--faithfulness", "removal": "--removal",
         "sanity": "--sanity", "maps": "--maps", "format": "--format"}


def record_path(results: Path) -> Path:
    return results.with_name(results.name + ".run.json")


def model_digest(model: Path) -> str:
    """SHA-256 of the model's bytes (a folder: of each file's name and bytes, in order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in model.iterdir() if p.is_file()) if model.is_dir() else [model]
    for file in files:
        if model.is_dir():
            digest.update(file.name.encode("utf-8", "surrogateescape") + b"\0")
        with open(file, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def describe_run(args, model: Path) -> dict:
    options = {name: getattr(args, name, None) for name in OPTIONS}
    if not options["faithfulness"]:
        options["removal"] = None  # only the check reads it
    return {"made_by": f"vit-gui {__version__}", "format": args.format, "model": str(model), "cwd": os.getcwd(),
            "model_sha256": model_digest(model), "maps": args.maps is not None, "options": options}


def write_record(results: Path, run: dict) -> None:
    from vit_gui.fileio import atomic_write_text

    atomic_write_text(record_path(results), json.dumps(run, indent=2, ensure_ascii=True) + "\n")


def read_record(results: Path) -> dict | None:
    """The record beside a results file; None where there is none. ValueError for one that
    is there but cannot be read, or is not ours: a damaged record must not turn the check
    of the model off."""
    path = record_path(results)
    if not os.path.lexists(path):
        return None
    try:
        if path.stat().st_size > 1_000_000:
            raise ValueError("over 1 MB")
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path}, the record of what made {results.name}, cannot be read ({exc}): remove it to "
                         "resume by the file's columns alone, or name a new -o file") from None
    if not (isinstance(run, dict) and str(run.get("made_by", "")).startswith("vit-gui")
            and isinstance(run.get("model_sha256"), str)):
        raise ValueError(f"{path} is not a record of vit-gui: remove it to resume by the file's columns alone, or "
                         "name a new -o file")
    return run


def foreign_record(results: Path) -> str | None:
    """Why writing the record beside `results` would destroy a file that is not a record."""
    try:
        read_record(results)
    except ValueError as exc:
        return str(exc)
    return None


def differences(before: dict, now: dict) -> list[str]:
    """Each way the run asked for differs from the one recorded, in words."""
    said = []
    if before.get("model_sha256") != now["model_sha256"]:
        said.append(f"the model: {Path(str(before.get('model'))).name} (sha256 {str(before.get('model_sha256'))[:12]}…) "
                    f"then, {Path(now['model']).name} (sha256 {now['model_sha256'][:12]}…) now")
    for key in ("format", "maps"):
        if before.get(key) != now[key]:
            said.append(f"{FLAGS[key]}: {_shown(before.get(key))} then, {_shown(now[key])} now")
    recorded = before.get("options") if isinstance(before.get("options"), dict) else {}
    for key, value in now["options"].items():
        if recorded.get(key) != value:
            said.append(f"{FLAGS[key]}: {_shown(recorded.get(key))} then, {_shown(value)} now")
    return said


def _shown(value) -> str:
    return "not given" if value is None else "on" if value is True else "off" if value is False else str(value)


def shape_differences(found, args, columns: list[str]) -> list[str]:
    """For a file without a record (made before records were kept): what its lines show."""
    if found.fmt == "csv":
        if found.columns != columns:
            return [f"its columns ({len(found.columns)}: {', '.join(found.columns[7:]) or 'the plain ones'}) are not "
                    f"this run's ({len(columns)}: {', '.join(columns[7:]) or 'the plain ones'})"]
        return []
    said = []
    for key, asked in (("faithfulness", args.faithfulness), ("sanity", args.sanity), ("maps", args.maps is not None)):
        there = key in found.keys_seen
        if there != asked and (there or found.done):
            said.append(f"{FLAGS[key]}: {'on' if there else 'off'} then, {'on' if asked else 'off'} now")
    return said

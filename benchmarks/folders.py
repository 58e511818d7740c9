"""Folders of 10,000 photos: `vit-gui classify --format jsonl` on 500, 2,000 and 10,000
generated photos, each run in its own process (wall time, photos/s, peak RSS), against the
model's own batch rate measured in the same run; then a run killed half-way and resumed.

The model is a small random-weight ViT (ViT-Ti/16 at 224 px, 4 blocks): the question is
whether the command keeps pace with its model and keeps its memory flat, not how fast a
big model is. Photos: 160x120 JPEGs of smooth colour fields, written once to a scratch
folder. Writes benchmarks/results/folders.md.
Usage: python benchmarks/folders.py [--sizes 500,2000,10000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CHILD_PRELUDE, git_revision, write_results  # noqa: E402

BATCH = 8


def photos(folder: Path, count: int) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        name = folder / f"{i // 1000:02d}" / f"photo-{i:05d}.jpg"
        if name.exists():
            continue
        name.parent.mkdir(exist_ok=True)
        corners = rng.integers(0, 255, (2, 2, 3)).astype(np.uint8)
        Image.fromarray(corners).resize((160, 120), Image.Resampling.BILINEAR).save(name, quality=85)
    return folder


def model(work: Path) -> Path:
    import torch

    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    torch.manual_seed(0)
    path = write_safetensors(work / "vit-ti.safetensors", VisionTransformer(embed_dim=192, depth=4, num_heads=3,
                                                                             num_classes=10).state_dict())
    (work / "vit-ti.safetensors.json").write_text(json.dumps({"labels": [f"class {i}" for i in range(10)]}))
    return path


def model_rate(path: Path, folder: Path, count: int = 256) -> float:
    """Photos/s of the model alone: preprocessed batches of BATCH, no files, no output."""
    import torch

    from vit_gui.images import find_images, load_image
    from vit_gui.predict import Predictor

    predictor = Predictor.from_file(path)
    images = [load_image(p).image for p in find_images([folder])[:count]]
    batches = [predictor.prepare(images[i : i + BATCH])[0] for i in range(0, len(images), BATCH)]
    with torch.inference_mode():
        predictor.model(batches[0])
        start = time.perf_counter()
        for pixels in batches:
            predictor.model(pixels)
    return len(images) / (time.perf_counter() - start)


def classify_run(path: Path, folder: Path, out: Path) -> dict:
    """One `vit-gui classify` in a child process that reports its own peak memory; its
    progress lines are timestamped here, so the steady rate (from the first batch's last
    photo to the end) is told apart from start-up (importing torch, loading the model)."""
    code = CHILD_PRELUDE + (
        "import sys, time, json\nfrom vit_gui.cli import main\nstart = time.perf_counter()\n"
        f"code = main(['classify', {str(folder)!r}, '--model', {str(path)!r}, '--format', 'jsonl', '-o', {str(out)!r}, "
        f"'--batch-size', '{BATCH}'])\n"
        "print(json.dumps({'code': code, 'seconds': time.perf_counter() - start, 'peak': peak_rss()}))\n")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first_batch = None
    for line in process.stderr:
        if first_batch is None and f"[{BATCH}/" in line:
            first_batch = time.perf_counter()
    ended = time.perf_counter()
    result = json.loads(process.stdout.read().strip().splitlines()[-1])
    process.wait()
    result["wall"] = ended - started
    result["steady"] = ended - first_batch
    return result


def killed_and_resumed(path: Path, folder: Path, out: Path, total: int) -> dict:
    command = [sys.executable, "-m", "vit_gui", "classify", str(folder), "--model", str(path), "--format", "jsonl",
               "-o", str(out), "--batch-size", str(BATCH)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in process.stderr:
        if f"[{total // 2}/" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    written = out.read_text().count("\n")  # complete lines: a line the kill cut is redone
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, check=True)
    redone = resumed.stderr.count("] ")
    paths = [json.loads(line)["path"] for line in out.read_text().splitlines()]
    return {"written_before": written, "redone": redone, "lines": len(paths), "unique": len(set(paths))}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--backbone-photos", type=int, default=500,
                        help="also classify this many photos with the built-in DINOv2 backbone (0: skip)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp())
    weights = model(work)
    folders = {n: photos(work / f"photos-{n}", n) for n in sizes}
    rate = model_rate(weights, folders[sizes[0]])
    rows = []
    for n in sizes:
        result = classify_run(weights, folders[n], work / f"out-{n}.jsonl")
        lines = len((work / f"out-{n}.jsonl").read_text().splitlines())
        rows.append((n, result, lines))
        print(f"{n}: {result['seconds']:.1f} s, {n / result['seconds']:.1f} photos/s, "
              f"steady {(n - BATCH) / result['steady']:.1f} photos/s, "
              f"peak {result['peak'] / 1e6:.0f} MB, {lines} lines", flush=True)
    resume = killed_and_resumed(weights, folders[sizes[1] if len(sizes) > 1 else sizes[0]], work / "resume.jsonl",
                                sizes[1] if len(sizes) > 1 else sizes[0])
    backbone = None
    if args.backbone_photos:
        from vit_gui.model.catalog import discover_models

        real = next(e.path for e in discover_models() if "dinov2" in e.path.name)
        folder = photos(work / f"photos-backbone-{args.backbone_photos}", args.backbone_photos)
        backbone = (model_rate(real, folder, 128), classify_run(real, folder, work / "backbone.jsonl"))
    base_peak = rows[0][1]["peak"]
    lines = [f"Commit {git_revision()}. Model: a random-weight ViT-Ti/16 (4 blocks, 224 px, 10 classes); photos: "
             f"160x120 JPEGs of smooth colour fields; `vit-gui classify FOLDER --format jsonl -o FILE --batch-size "
             f"{BATCH}`, each size in its own process (peak RSS: VmHWM). The model alone, on preprocessed batches of "
             f"{BATCH} in the same run: **{rate:.1f} photos/s**.", "",
             "Steady: photos/s from the first batch's last progress line to the end (start-up excluded: Python, "
             "`import torch`, loading the model).", "",
             "| photos | wall time (process) | photos/s, whole command | steady photos/s | steady vs the model alone "
             "| peak RSS | vs 500 photos | lines written |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, result, written in rows:
        per_second = n / result["wall"]
        steady = (n - BATCH) / result["steady"]
        lines.append(f"| {n:,} | {result['wall']:.1f} s | {per_second:.1f} | {steady:.1f} | {rate / steady:.2f}x slower "
                     f"| {result['peak'] / 1e6:.0f} MB | {result['peak'] / base_peak:.2f}x | {written:,} |")
    lines += ["", f"Killed (SIGKILL) half-way through {resume['lines']:,} photos, then `--resume`: "
              f"{resume['written_before']:,} lines were written before the kill, the resumed run classified "
              f"{resume['redone']:,} photos, and the file holds {resume['lines']:,} lines for {resume['unique']:,} "
              f"different photos (nothing written was redone: {resume['written_before']:,} + {resume['redone']:,} = "
              f"{resume['written_before'] + resume['redone']:,}).", ""]
    if backbone:
        real_rate, result = backbone
        n = args.backbone_photos
        steady = (n - BATCH) / result["steady"]
        lines += [f"The built-in DINOv2 ViT-S/14 (a real model, 224 px) on {n:,} of the same photos: the model alone "
                  f"{real_rate:.1f} photos/s (128 photos, batches of {BATCH}); the command {result['wall']:.1f} s in all, "
                  f"steady {steady:.1f} photos/s (**{real_rate / steady:.2f}x** the model alone's time), "
                  f"peak RSS {result['peak'] / 1e6:.0f} MB.", ""]
    write_results("folders", "Folders of 10,000 photos: streaming, memory, resume", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

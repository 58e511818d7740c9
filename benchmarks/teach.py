"""Teaching's costs on this machine: feature extraction (images/s, the built-in DINOv2
backbone when installed, else a random ViT-S/14), and training the probe on 1,000 cached
feature vectors (10 classes, the five weight decays tried; goal: under 2 s on 2 cores), and one epoch of
fine-tuning the last two blocks.
Writes benchmarks/results/teach.md.
Usage: python benchmarks/teach.py [--images 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import numpy as np
    import skimage.data
    from PIL import Image

    from vit_gui.model.catalog import discover_models
    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer
    from vit_gui.predict import Predictor
    from vit_gui.teach.features import extract
    from vit_gui.teach.probe import train_probe

    work = Path(tempfile.mkdtemp())
    present = [e.path for e in discover_models() if "dinov2" in e.path.name]
    if present:
        model, label = present[0], "built-in DINOv2 ViT-S/14 (real weights)"
    else:
        model, label = work / "random.safetensors", "random ViT-S/14"
        write_safetensors(model, VisionTransformer(embed_dim=384, num_heads=6, patch_size=14, grid=(16, 16),
                                                   num_classes=0).state_dict())
    predictor = Predictor.from_file(model)
    photo = np.asarray(skimage.data.astronaut())
    rng = np.random.default_rng(0)
    paths = []
    for i in range(args.images):
        y, x = rng.integers(0, 512 - 200, size=2)
        path = work / f"{i:03d}.jpg"
        Image.fromarray(photo[y : y + 200, x : x + 200]).save(path, quality=90)
        paths.append(path)
    rates = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        extract(predictor, paths, f"bench-{repeat}")  # a fresh cache key: every image is read and run
        rates.append(args.images / (time.perf_counter() - start))
    cached_start = time.perf_counter()
    _, _, cached = extract(predictor, paths, "bench-0")
    cached_seconds = time.perf_counter() - cached_start

    features = rng.normal(size=(1000, 384)).astype(np.float32)
    labels = np.arange(1000) % 10
    features += rng.normal(0, 2, size=(10, 384)).astype(np.float32)[labels]
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        train_probe(features[:800], labels[:800], features[800:], labels[800:], 10)
        times.append(time.perf_counter() - start)
    from vit_gui.teach.finetune import build_classifier, finetune
    from vit_gui.teach.probe import Probe

    head = Probe(np.zeros((2, 384), np.float32), np.zeros(2, np.float32), 0.0)
    classifier = build_classifier(model, predictor.info, head)
    items = [(path, i % 2) for i, path in enumerate(paths)]
    start = time.perf_counter()
    finetune(classifier, predictor.info.preprocessing, items, [], blocks=2, epochs=1)
    epoch_seconds = time.perf_counter() - start
    lines = [f"Commit {git_revision()}. Model: {label}; medians of {args.repeats} runs (range in brackets).", "",
             "| what | figure | goal |", "| --- | --- | --- |",
             f"| feature extraction, {args.images} JPEGs (200 px) read, preprocessed and run, batch 8 | "
             f"{statistics.median(rates):.1f} images/s ({min(rates):.1f}–{max(rates):.1f}) | |",
             f"| the same {args.images} images again, features from the cache | {cached_seconds * 1000:.0f} ms "
             f"({cached} cached) | |",
             f"| probe training, 1,000 cached vectors (800 train / 200 val), 10 classes, 5 weight decays | "
             f"{statistics.median(times):.2f} s ({min(times):.2f}–{max(times):.2f}) | < 2 s |",
             f"| fine-tuning the last 2 blocks, one epoch over {args.images} images (batch 16, augmented) | "
             f"{epoch_seconds:.1f} s ({args.images / epoch_seconds:.1f} images/s) | |"]
    write_results("teach", "Teaching new classes: extraction and probe training", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

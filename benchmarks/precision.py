"""Each number format on the built-in DINOv2 backbone: throughput (batch 16, real photos),
agreement with float32 (feature cosine, rollout map difference) on the sample photos, and
what `auto` picks here. Writes benchmarks/results/precision.md.
Usage: python benchmarks/precision.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import numpy as np
    import torch
    from PIL import Image

    from vit_gui.model.catalog import discover_models
    from vit_gui.predict import Predictor

    model = next(e.path for e in discover_models() if "dinov2" in e.path.name)
    photos = [Image.open(p).convert("RGB") for p in sorted((ROOT / "resources" / "samples").glob("*.jpg"))]
    batch = (photos * 16)[:16]
    formats = {name: Predictor.from_file(model, precision=name) for name in ("float32", "bfloat16", "int8")}
    auto = Predictor.from_file(model, precision="auto").precision
    pixels = {name: p.prepare(batch)[0] for name, p in formats.items()}
    samples = {name: [] for name in formats}
    order = list(formats)
    with torch.inference_mode():
        for name, p in formats.items():
            p.model(pixels[name])  # warm up
        for _ in range(args.repeats):
            random.shuffle(order)  # interleaved, shuffled: drifting load touches every format alike
            for name in order:
                start = time.perf_counter()
                formats[name].model(pixels[name])
                samples[name].append(len(batch) / (time.perf_counter() - start))
    reference = formats["float32"].predict(photos, with_attentions=True)
    rows = ["| format | images/s, batch 16 (median; min–max; n) | vs float32 | feature cosine, min over photos | "
            "rollout map, max abs difference |", "| --- | --- | --- | --- | --- |"]
    base = statistics.median(samples["float32"])
    for name, p in formats.items():
        got = p.predict(photos, with_attentions=True)
        cos = min(float(np.dot(a.features, b.features) / np.linalg.norm(a.features) / np.linalg.norm(b.features))
                  for a, b in zip(got, reference))
        diff = max(float(np.abs(a.map() - b.map()).max()) for a, b in zip(got, reference))
        s = samples[name]
        rows.append(f"| {name} | {statistics.median(s):.1f} ({min(s):.1f}–{max(s):.1f}; n={len(s)}) | "
                    f"{statistics.median(s) / base:.2f}× | {cos:.5f} | {diff:.4f} |")
        print(rows[-1], flush=True)
    lines = [f"Commit {git_revision()}. Model: built-in DINOv2 ViT-S/14 at 224 px; the {len(photos)} sample photos.",
             "", *rows, "", f"`auto` here: **{auto.name}**: {auto.reason}."]
    write_results("precision", "Number formats: speed and agreement with float32", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Model load time and peak memory with ViT-B/16 loaded, each measured in a fresh process
(peak = the process's VmHWM, Linux only).

Target: peak RSS <= 1.5 x the weights' size + 400 MB. Loads are timed from a .safetensors
and a .pth file of the same random ViT-B/16 weights; the peak includes one classification
with all attentions and a rollout. Writes benchmarks/results/memory.md.
Usage: python benchmarks/memory.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CHILD_PRELUDE, write_results  # noqa: E402

CHILD = CHILD_PRELUDE + r"""
import json, time

t0 = time.perf_counter()
import torch
from PIL import Image
from vit_gui.predict import Predictor
imported = time.perf_counter()
rss_import = peak_rss()
start = time.perf_counter()
predictor = Predictor.from_file(sys.argv[1])
loaded = time.perf_counter()
image = Image.open(sys.argv[2]).convert("RGB")
predictor.predict([image], with_attentions=True)[0].map()
print(json.dumps({"import_s": imported - t0, "load_s": loaded - start,
                  "rss_after_import": rss_import,
                  "peak_rss": peak_rss()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    import torch
    from safetensors.torch import save_file

    from vit_gui.model.vit import VisionTransformer

    folder = Path(tempfile.mkdtemp())
    torch.manual_seed(0)
    state = VisionTransformer(embed_dim=768, depth=12, num_heads=12, num_classes=1000).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "vit-b16.safetensors"))
    torch.save(state, folder / "vit-b16.pth")
    photo = Path(__file__).resolve().parent.parent / "resources" / "samples" / "chelsea.jpg"
    results = {}
    for _ in range(args.runs):
        for name in ("vit-b16.safetensors", "vit-b16.pth"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(folder / name), str(photo)],
                                 capture_output=True, text=True, check=True)
            results.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    weights = (folder / "vit-b16.safetensors").stat().st_size
    budget = 1.5 * weights + 400e6
    lines = [f"Random ViT-B/16 weights, {weights / 1e6:.0f} MB as float32; {args.runs} fresh processes per format.",
             f"Target: peak RSS ≤ 1.5 × {weights / 1e6:.0f} MB + 400 MB = {budget / 1e6:.0f} MB.", "",
             "| file | median load | median peak RSS (load + one classification with maps) | peak RSS after `import torch` etc. | target |",
             "| --- | --- | --- | --- | --- |"]
    for name, runs in results.items():
        peak = statistics.median(r["peak_rss"] for r in runs)
        lines.append(f"| {name} | {1000 * statistics.median(r['load_s'] for r in runs):.0f} ms | "
                     f"{peak / 1e6:.0f} MB | {statistics.median(r['rss_after_import'] for r in runs) / 1e6:.0f} MB | "
                     f"{'met' if peak <= budget else 'MISSED'} |")
    write_results("memory", "Memory and load time (ViT-B/16, CPU)", lines)


if __name__ == "__main__":
    main()

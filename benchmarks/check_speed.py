"""How long the check takes, before and after issue #29's work (item 8).

Times, on the built-in DINOv2 ViT-S/14 (224 x 224, 2 torch threads):
- one map's check (its curves, SaCo and every one of its 19 copies: the cost of a map that
  turns out faithful; a map no better than noise stops after 4) under each protocol;
- "Which map should I believe?" on the backbone (3 maps) and on a probe taught on it to
  find a planted logo (6 maps, gradients included), token drop.
Each measurement runs in a fresh process with PYTHONPATH at one source tree: this one and,
with `--before DIR`, an older checkout (a git worktree), alternated round by round so both
meet the same machine load. Medians, ranges, and the ratio before/after.

Writes benchmarks/results/check-speed.md. Usage: python benchmarks/check_speed.py
[--before /tmp/oldmain] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, machine, spread, write_results  # noqa: E402

HERE = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
import numpy as np, torch, skimage.data
from PIL import Image
from vit_gui.explain.faithfulness import check_map
from vit_gui.explain.compare import compare_maps
from vit_gui.explain.maps import MapSpec
from vit_gui.model.catalog import default_model_path
from vit_gui.predict import Predictor
case, probe_path = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
image = Image.fromarray(skimage.data.chelsea())
backbone = Predictor.from_file(default_model_path())
grid_map = backbone.predict([image], with_attentions=True)[0].map(MapSpec("rollout", start_block=1))
started = time.perf_counter()
if case.startswith("one map"):
    check_map(backbone, image, grid_map, None, case.split()[-1], early_stop=False)
elif case == "which map, backbone":
    compare_maps(backbone, image, "drop")
else:
    compare_maps(Predictor.from_file(probe_path), image, "drop", class_index=1)
print(json.dumps(time.perf_counter() - started))
"""
CASES = ("one map, drop", "one map, mean", "one map, blackout", "which map, backbone", "which map, probe")


def make_probe(folder: Path) -> Path:
    """A probe on the backbone that tells scenes marked by the planted logo (class 1)."""
    import numpy as np

    from vit_gui.explain.planted import real_photos, scenes
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor
    from vit_gui.teach.probe import train_probe
    from vit_gui.teach.save import save_taught_model

    base = default_model_path()
    backbone = Predictor.from_file(base)
    made = scenes(real_photos(), 4)
    features = np.stack([p.features for s in made for p in backbone.predict([s.image])])
    labels = np.array([int(s.marked) for s in made])
    probe = train_probe(features, labels, features, labels, 2)
    return save_taught_model(base, backbone.info, "check-speed", ["plain", "marked"], probe, {}, "check-speed", folder)


def run(tree: Path, case: str, probe: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", CHILD, case, str(probe)], env=env, cwd=tree, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, help="an older checkout to time the same way")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    probe = make_probe(Path(tempfile.mkdtemp()))
    trees = {"after": HERE, **({"before": args.before} if args.before else {})}
    times: dict = {(t, c): [] for t in trees for c in CASES}
    for round_number in range(args.rounds):
        for case in CASES:
            for name, tree in (trees.items() if round_number % 2 == 0 else reversed(trees.items())):
                times[name, case].append(run(tree, case, probe))
                print(f"round {round_number + 1}, {case}, {name}: {times[name, case][-1]:.1f} s", flush=True)
    lines = [f"Revision {git_revision()}" + (f", before: {args.before}" if args.before else "") + f"; {machine()}.",
             "", "Photo: chelsea, 224 x 224. One map: rollout from block 2, every one of its 19 copies (a map no "
             "better than noise stops after 4). Which map: token drop, with the sanity and stability tests.", "",
             "| what | after: median (range; n) | " + ("before | before / after |" if args.before else ""),
             "|---|---|" + ("---|---|" if args.before else "")]
    for case in CASES:
        after = times["after", case]
        row = f"| {case} | {spread(after, 1.0)} s |"
        if args.before:
            before = times["before", case]
            row += f" {spread(before, 1.0)} s | {statistics.median(before) / statistics.median(after):.2f} |"
        lines.append(row)
    print("\n".join(lines))
    write_results("check-speed", "How long the check takes (issue #29, item 8)", lines)


if __name__ == "__main__":
    main()

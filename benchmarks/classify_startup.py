"""Start-up of `vit-gui classify` on one photo with the built-in ViT-S, by part.

Parts are timed inside a child process that does what the command does, step by step
(interpreter, import torch, import vit-gui, load the model, classify the first photo,
exit); the whole command is timed from outside, with the fast exit after a headless
command (`console_main`) and with Python's normal exit (`main`), in shuffled order.
Writes benchmarks/results/classify-startup.md.
Usage: python benchmarks/classify_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "resources" / "samples" / "chelsea.jpg"

PARTS_CHILD = """
import json, sys, time
start = time.perf_counter()
import torch
torch_done = time.perf_counter()
from vit_gui.cli import build_parser, run_classify
ours_done = time.perf_counter()
from vit_gui.model.catalog import default_model_path
from vit_gui.predict import Predictor
predictor = Predictor.from_file(default_model_path())
loaded = time.perf_counter()
from vit_gui.images import load_image
predictor.predict([load_image(sys.argv[1]).image], top_k=5)
first = time.perf_counter()
print(json.dumps({"import torch": torch_done - start, "import vit-gui": ours_done - torch_done,
                  "load model": loaded - ours_done, "first photo": first - loaded}))
"""

WHOLE = {
    "vit-gui classify (fast exit)": "from vit_gui.cli import console_main; console_main()",
    "same, Python's normal exit": "import sys; from vit_gui.cli import main; sys.exit(main(sys.argv[1:]))",
}


def run_whole(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, "classify", str(PHOTO)], check=True, capture_output=True,
                   cwd=ROOT, timeout=120)
    return time.perf_counter() - start


def spread(samples: list[float]) -> str:
    ms = [1000 * s for s in samples]
    return f"{statistics.median(ms):.0f} ms | {min(ms):.0f} | {max(ms):.0f} | {len(ms)}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    for code in WHOLE.values():
        run_whole(code)  # warm the page cache
    whole = {name: [] for name in WHOLE}
    parts: dict[str, list[float]] = {}
    interpreter = []
    for _ in range(args.runs):
        jobs = [*WHOLE, "parts", "interpreter"]
        random.shuffle(jobs)
        for job in jobs:
            if job in WHOLE:
                whole[job].append(run_whole(WHOLE[job]))
            elif job == "interpreter":
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", "pass"], check=True)
                interpreter.append(time.perf_counter() - start)
            else:
                out = subprocess.run([sys.executable, "-c", PARTS_CHILD, str(PHOTO)], check=True,
                                     capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
                for name, seconds in json.loads(out).items():
                    parts.setdefault(name, []).append(seconds)
    lines = [f"Commit {git_revision()}. One photo ({PHOTO.name}), the built-in DINOv2 ViT-S/14, float32, "
             f"warm page cache; {args.runs} rounds, jobs shuffled within each round.", "",
             "| part | median | min | max | n |", "| --- | --- | --- | --- | --- |",
             f"| start the interpreter (`python -c pass`) | {spread(interpreter)} |"]
    lines += [f"| {name} | {spread(samples)} |" for name, samples in parts.items()]
    lines += ["", "| whole command, wall clock | median | min | max | n |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {spread(samples)} |" for name, samples in whole.items()]
    saved = statistics.median(whole[list(WHOLE)[1]]) - statistics.median(whole[list(WHOLE)[0]])
    lines += ["", f"The fast exit saves {1000 * saved:.0f} ms (median against median): Python's teardown of "
              "torch's modules, skipped once every output is written and flushed. Goal: under 1.5 s."]
    write_results("classify-startup", "Start-up of `vit-gui classify`, one photo", lines)


if __name__ == "__main__":
    main()

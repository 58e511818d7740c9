"""Which map should the built-in backbone show first? Paired evidence over distinct photos
(issue #29, item 7).

Every distinct natural colour photo the stack ships offline (scikit-image's seven,
matplotlib's portrait, scikit-learn's two): n = 10 photos, never crops of one counted apart.
For each photo, each of the backbone's maps (rollout from block 1, from block 2 (today's
default), block 12) and each removal protocol: the check's statistic, insertion area minus
deletion area of the cosine of the photo's embedding (higher: the map's order matters more to
the model). Token drop also gets the verdict (p-value against 19 copies). Methods are compared
by paired differences over photos with 95% t intervals; a default changes only when another
method is ahead beyond its interval.

Writes benchmarks/results/defaults.md and defaults.json (per photo, protocol and method).
Usage: python benchmarks/defaults.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, cpu_features, git_revision, write_results  # noqa: E402
from planted_checks import t_interval  # noqa: E402

METHODS = {"rollout from block 1": dict(kind="rollout"), "rollout from block 2": dict(kind="rollout", start_block=1),
           "block 12": dict(kind="block", block=11)}
DEFAULT = "rollout from block 2"
PROTOCOLS = ("drop", "mean", "blackout")


def photos() -> dict:
    import numpy as np
    from sklearn.datasets import load_sample_images

    from vit_gui.explain.planted import real_photos

    found = real_photos()
    sample = load_sample_images()
    for path, pixels in zip(sample.filenames, sample.images):
        found[Path(path).stem] = np.asarray(pixels)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.parse_args()
    from PIL import Image

    from vit_gui.explain.faithfulness import Judge
    from vit_gui.explain.maps import MapSpec
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor

    started = time.perf_counter()
    backbone = Predictor.from_file(default_model_path())
    rows = []
    for name, pixels in photos().items():
        image = Image.fromarray(pixels)
        prediction = backbone.predict([image], with_attentions=True)[0]
        for protocol in PROTOCOLS:
            judge = Judge(backbone, image, protocol)
            for method, keywords in METHODS.items():
                grid_map = prediction.map(MapSpec(**keywords))
                if protocol == "drop":
                    verdict = judge.judge(grid_map, with_saco=False)
                    figures = {"statistic": verdict.statistic, "p_value": verdict.p_value, "faithful": verdict.faithful}
                else:
                    deletion, insertion = judge.both_curves(grid_map, judge.copy_counts)
                    from vit_gui.explain.faithfulness import Curve

                    figures = {"statistic": Curve(judge.copy_fractions, insertion).auc
                               - Curve(judge.copy_fractions, deletion).auc}
                rows.append({"photo": name, "protocol": protocol, "method": method, **figures})
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    (RESULTS / "defaults.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = report(rows, (time.perf_counter() - started) / 60)
    print("\n".join(lines))
    write_results("defaults", "The backbone's default map, by paired evidence (issue #29, item 7)", lines)


def report(rows: list[dict], minutes: float) -> list[str]:
    photos = sorted({r["photo"] for r in rows})
    value = {(r["photo"], r["protocol"], r["method"]): r for r in rows}
    lines = [f"Revision {git_revision()}; CPU features: {cpu_features()}; {minutes:.1f} minutes. "
             f"n = {len(photos)} distinct photos ({', '.join(photos)}).", ""]
    for protocol in PROTOCOLS:
        means = {m: statistics.fmean(value[(p, protocol, m)]["statistic"] for p in photos) for m in METHODS}
        ranked = sorted(means, key=means.get, reverse=True)
        best = ranked[0]
        lines += [f"### {protocol}", "", "| method | statistic, mean over photos (95% interval) | called faithful |",
                  "|---|---|---|"]
        for method in ranked:
            mean, low, high = t_interval([value[(p, protocol, method)]["statistic"] for p in photos])
            faithful = (f"{sum(value[(p, protocol, method)]['faithful'] for p in photos)} of {len(photos)}"
                        if protocol == "drop" else "–")
            lines.append(f"| {method} | {mean:+.4f} ({low:+.4f} … {high:+.4f}) | {faithful} |")
        lines += ["", f"Best: **{best}**, runner-up {ranked[1]}. Paired, best minus each:", "",
                  "| best minus | difference (95% interval) | ahead beyond its interval? |", "|---|---|---|"]
        for method in ranked[1:]:
            diff = t_interval([value[(p, protocol, best)]["statistic"] - value[(p, protocol, method)]["statistic"]
                               for p in photos])
            lines.append(f"| {method} | {diff[0]:+.4f} ({diff[1]:+.4f} … {diff[2]:+.4f}) | "
                         f"{'yes' if diff[1] > 0 else 'no'} |")
        lines.append("")
    return lines


if __name__ == "__main__":
    main()

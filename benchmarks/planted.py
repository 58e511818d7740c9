"""Known answers (issue #29, item 6): does each map point at evidence planted on real photos?

Scenes are cut from the 8 distinct natural colour photos the stack ships (vit_gui.explain.
planted); half carry scikit-image's logo at a random place. For each photo in turn, a probe
("marked" or not) is taught on the built-in DINOv2 backbone's class-token features of the
other 7 photos' scenes, and judged on this photo's scenes: the logo decided its answer, so a
map that shows what decided it puts its mass and its peak on the logo. Per method: the share
of the map inside the logo's box (relevance mass; a flat map scores the box's area) and the
pointing game (peak within one patch of the box), averaged over the marked scenes the probe
got right, then over photos: n = photos, never scenes. Paired differences to the best method
with 95% t intervals over photos; the runner-up is shown.

Writes benchmarks/results/planted.md and planted.json (per photo and method, to recompute).
Usage: python benchmarks/planted.py [--per-photo 12]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, git_revision, write_results  # noqa: E402
from planted_checks import t_interval  # noqa: E402

METHODS = {  # label -> MapSpec keywords (class maps explain the class "marked")
    "rollout from block 1": dict(kind="rollout"),
    "rollout from block 2": dict(kind="rollout", start_block=1),
    "last block": dict(kind="block", block=11),
    "class evidence": dict(kind="class", class_index=1),
    "Grad-CAM": dict(kind="gradcam", class_index=1),
    "LeGrad": dict(kind="legrad", class_index=1),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-photo", type=int, default=12, help="scenes cut from each photo (half marked)")
    parser.add_argument("--check", type=int, default=0, help="marked scenes per photo whose maps the check judges "
                        "(token drop, the log-odds of 'marked'); 0: none")
    parser.add_argument("--results", default="planted", help="results file name")
    args = parser.parse_args()
    import numpy as np

    from vit_gui.explain.faithfulness import Judge
    from vit_gui.explain.maps import MapSpec
    from vit_gui.explain.overlay import heat_on_image
    from vit_gui.explain.planted import flat_share, points_at_box, real_photos, scenes, share_on_box
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor
    from vit_gui.teach.probe import train_probe
    from vit_gui.teach.save import taught_model, taught_sidecar

    started = time.perf_counter()
    base_path = default_model_path()
    backbone = Predictor.from_file(base_path)
    made = scenes(real_photos(), args.per_photo)
    features = np.concatenate([np.stack([p.features for p in backbone.predict([s.image for s in made[i:i + 16]])])
                               for i in range(0, len(made), 16)])
    labels = np.array([int(s.marked) for s in made])
    photos = sorted({s.photo for s in made})
    rows = []  # one per (photo, method)
    for held in photos:
        train = np.array([s.photo != held for s in made])
        probe = train_probe(features[train], labels[train], features[train], labels[train], 2)
        sidecar = taught_sidecar(base_path, backbone.info, "planted", ["plain", "marked"], {}, "planted")
        model = Predictor(taught_model(base_path, backbone.info, probe, sidecar))
        test = [i for i in np.flatnonzero(~train)]
        right = [i for i in test if int(probe.predict(features[i:i + 1])[0]) == labels[i]]
        marked = [i for i in right if made[i].marked]
        judges = {i: Judge(model, made[i].image, "drop", class_index=1) for i in marked[: args.check]}
        for label, keywords in METHODS.items():
            shares, hits, checks = [], [], []
            for i in marked:
                spec = MapSpec(**keywords)
                if spec.method.needs_gradients:
                    grid_map, geometry = model.gradient_map(made[i].image, spec)
                else:
                    prediction = model.predict([made[i].image], with_attentions=True)[0]
                    grid_map, geometry = prediction.map(spec), prediction.geometry
                heat, _ = heat_on_image(grid_map, geometry)
                shares.append(share_on_box(heat, made[i].box))
                hits.append(points_at_box(heat, made[i].box))
                if i in judges:
                    verdict = judges[i].judge(grid_map, with_saco=False)
                    checks.append({"statistic": verdict.statistic, "p_value": verdict.p_value,
                                   "faithful": verdict.faithful, "copies": verdict.compared,
                                   "share": shares[-1], "points": bool(hits[-1])})
            rows.append({"photo": held, "method": label, "accuracy": len(right) / len(test), "marked_right": len(marked),
                         "share": float(np.mean(shares)) if shares else None,
                         "pointing": float(np.mean(hits)) if hits else None,
                         "flat_share": float(np.mean([flat_share(made[i].box) for i in marked])) if marked else None,
                         "checks": checks})
        print(f"{held}: probe right on {len(right)}/{len(test)} held-out scenes", flush=True)
    minutes = (time.perf_counter() - started) / 60
    (RESULTS / f"{args.results}.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = report(rows, photos, args.per_photo, minutes)
    if args.check:
        from planted_checks import check_report

        lines += check_report(rows)
    print("\n".join(lines))
    write_results(args.results, "Maps against planted evidence (issue #29, item 6)", lines)


def report(rows: list[dict], photos: list[str], per_photo: int, minutes: float) -> list[str]:
    by = {(r["photo"], r["method"]): r for r in rows}
    usable = [p for p in photos if by[(p, next(iter(METHODS)))]["share"] is not None]
    lines = [f"Revision {git_revision()}, {minutes:.1f} minutes.", "",
             f"{len(photos)} photos, {per_photo} scenes cut from each (half marked by a {56}-pixel logo at a random "
             f"place); a probe on the built-in backbone's class token, taught on the other photos' scenes each time. "
             f"n = {len(usable)} photos (the marked scenes the probe got right, averaged within each photo).", "",
             "| photo | probe right on held-out scenes |", "|---|---|"]
    for p in photos:
        r = by[(p, next(iter(METHODS)))]
        lines.append(f"| {p} | {r['accuracy']:.0%} ({r['marked_right']} marked scenes right) |")
    lines += ["", "| method | share of the map on the logo (95% interval) | pointing game (95% interval, cut to 0–100%) |",
              "|---|---|---|"]
    flat = t_interval([by[(p, next(iter(METHODS)))]["flat_share"] for p in usable])
    scores = {}
    for method in METHODS:
        share = t_interval([by[(p, method)]["share"] for p in usable])
        point = [min(1.0, max(0.0, v)) for v in t_interval([by[(p, method)]["pointing"] for p in usable])]
        scores[method] = share[0]
        lines.append(f"| {method} | {share[0]:.3f} ({share[1]:.3f}–{share[2]:.3f}) | "
                     f"{point[0]:.0%} ({point[1]:.0%}–{point[2]:.0%}) |")
    lines.append(f"| a flat map (the box's area) | {flat[0]:.3f} | – |")
    ranked = sorted(scores, key=scores.get, reverse=True)
    best, runner = ranked[0], ranked[1]
    lines += ["", f"Best by share on the logo: **{best}**; runner-up: {runner}. Paired differences, best minus each "
              "(per photo, 95% t interval; an interval that covers 0 means no difference is shown):", "",
              "| best minus | share difference (95% interval) |", "|---|---|"]
    for method in ranked[1:]:
        diff = t_interval([by[(p, best)]["share"] - by[(p, method)]["share"] for p in usable])
        lines.append(f"| {method} | {diff[0]:+.3f} ({diff[1]:+.3f} … {diff[2]:+.3f}) |")
    return lines


if __name__ == "__main__":
    main()

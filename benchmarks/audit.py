"""The audit (issue #30): known answers, false alarms on clean folders, speed and memory.

On the built-in DINOv2 backbone, with scenes cut from the 8 distinct real photos the stack
ships (vit_gui.audit.known): for each case a probe is taught on the folder's own photos and
the audit reads it with Grad-CAM (and, for the logo at random spots, also with the class
evidence map). Clean folders: the 8 photos split at random into two classes of 4 photos,
nothing planted; a false alarm is a shortcut finding (same spot, small spot, outside the
object, a part of its own) in either class. The folders share their 8 source photos, so
they are not independent samples of the world: n is stated as folders and photos.

Speed: the built-in backbone itself (rollout, no classes) on class folders of crops, and the
taught probe (Grad-CAM), seconds per photo; peak memory of this process (VmHWM).

Writes benchmarks/results/audit.md (each figure is printed as it comes). About 4-6 minutes
on 2 idle cores. Usage: python benchmarks/audit.py [--per-photo 6] [--clean 5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, peak_rss, write_results  # noqa: E402

SHORTCUTS = {"same_spot", "small_spot", "outside_object", "own_part"}


def shortcut_findings(report: dict) -> dict[str, list[dict]]:
    return {c["name"]: [f for f in c["findings"] if f["kind"] in SHORTCUTS] for c in report["classes"]}


def share_in(finding_photos: list[str], photos: list[str]) -> float:
    return sum(p in finding_photos for p in photos) / max(len(photos), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-photo", type=int, default=6, help="crops cut from each photo per folder")
    parser.add_argument("--clean", type=int, default=5, help="clean folders (random splits of the 8 photos)")
    parser.add_argument("--speed-photos", type=int, default=96, help="photos timed on the backbone alone")
    args = parser.parse_args()
    from vit_gui.audit import known
    from vit_gui.audit.run import audit, to_json
    from vit_gui.explain.planted import real_photos
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor

    started = time.perf_counter()
    photos = real_photos()
    base = default_model_path()
    backbone = Predictor.from_file(base)
    work = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    lines = [f"Run on revision {git_revision()} with this benchmark; {args.per_photo} crops per photo and folder.", ""]

    def said(*new: str) -> None:  # each figure as it comes: a run cut short still shows what it measured
        lines.extend(new)
        print(*new, sep="\n", flush=True)

    # speed on the backbone alone: rollout, class folders (one per photo, 8 classes)
    per = max(1, args.speed_photos // 8)
    speed_root = work / "speed"
    known.clean(speed_root, photos, [[name] for name in sorted(photos)], per)
    rss_before = peak_rss()
    t = time.perf_counter()
    report = to_json(audit(speed_root, backbone))
    seconds = time.perf_counter() - t
    count = sum(len(c["photos"]) for c in report["classes"])
    said("## Speed and memory", "",
         f"- built-in backbone (map {report['map']}), {count} photos in 8 class folders: {seconds:.1f} s in all, "
         f"{seconds / count:.3f} s a photo (model, maps, groups, parts, findings); 500 photos at this rate: "
         f"{500 * seconds / count:.0f} s (extrapolated, not run)",
         f"- peak memory of this process: {peak_rss() / 2**20:.0f} MiB (before the audit: {rss_before / 2**20:.0f} MiB)")

    said("", "## Known answers", "",
         "| case | map | probe right (its own photos) | findings for the planted class | its photos in the finding "
         "| other classes flagged | s a photo |", "|---|---|---|---|---|---|---|")
    features: dict = {}
    cases = [("logo at one spot", "marked", lambda r: known.planted_logo(r, photos, args.per_photo, True), "gradcam"),
             ("logo at random spots", "marked", lambda r: known.planted_logo(r, photos, args.per_photo, False),
              "gradcam"),
             ("logo at random spots", "marked", lambda r: known.planted_logo(r, photos, args.per_photo, False), "class"),
             ("objects on grass", "grass", lambda r: known.planted_background(r, photos, args.per_photo), "gradcam")]
    for number, (name, target, make, kind) in enumerate(cases):
        folder = make(work / f"case{number}")
        model, accuracy = known.teach_probe(backbone, base, folder)
        t = time.perf_counter()
        report = to_json(audit(folder.root, model, kind=kind))
        seconds = time.perf_counter() - t
        found = shortcut_findings(report)
        item = next(c for c in report["classes"] if c["name"] == target)
        flagged = found[target]
        covered = max((share_in(f["photos"], item["photos"]) for f in flagged), default=0.0)
        others = sorted(c for c, fs in found.items() if c != target and fs)
        said(f"| {name} | {kind} | {accuracy:.0%} | {', '.join(f['kind'] for f in flagged) or 'none'} | "
             f"{covered:.0%} of {len(item['photos'])} | {', '.join(others) or 'none'} | "
             f"{seconds / sum(len(c['photos']) for c in report['classes']):.3f} |")

    names = sorted(photos)
    said("", "## False alarms on clean folders", "")
    alarms, classes_flagged = 0, 0
    for seed in range(args.clean):
        order = names[:]
        random.Random(seed).shuffle(order)
        folder = known.clean(work / f"clean{seed}", photos, [order[:4], order[4:]], args.per_photo)
        model, _ = known.teach_probe(backbone, base, folder, features)
        found = shortcut_findings(to_json(audit(folder.root, model)))
        flagged = {c: [f["kind"] for f in fs] for c, fs in found.items() if fs}
        alarms += bool(flagged)
        classes_flagged += len(flagged)
        said(f"- split {seed}: {' + '.join(order[:4])} | {' + '.join(order[4:])}: "
             + (", ".join(f"{c}: {', '.join(k)}" for c, k in flagged.items()) or "no shortcut finding"))
    said("", f"{alarms} of {args.clean} clean folders ({classes_flagged} of {2 * args.clean} classes) had a shortcut "
         f"finding (Grad-CAM; {args.per_photo * 4} crops a class, 4 source photos a class; all folders are "
         "splits of the same 8 photos, so they are not independent).", "",
         f"Total time {time.perf_counter() - started:.0f} s.")
    write_results("audit", "The audit against known answers (issue #30)", lines)


if __name__ == "__main__":
    main()

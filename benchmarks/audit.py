"""The audit (issue #30): known answers, false alarms on clean folders, speed and memory.

On the built-in DINOv2 backbone, with scenes cut from the 8 distinct real photos the stack
ships (vit_gui.audit.known): for each case a probe is taught on the folder's own photos and
the audit reads it with Grad-CAM (and, for the logo at random spots, also with the class
evidence map). Each planted case is counted by crops and by distinct source photos.

Clean folders: the 8 photos split at random into two classes of 4 photos (the split and the
crops drawn from the seed), nothing planted; a false alarm is a shortcut finding (same spot,
small spot, outside the object, a part of its own) in either class. The folders share their
8 source photos, so they are not independent samples of the world: n is stated as folders,
classes and photos. Each class's measures beside their thresholds are printed too.

Speed: N photos (class folders of crops, one class per source photo) audited on the
built-in backbone itself (rollout) and on a probe taught on them (Grad-CAM), seconds per
photo and the peak memory of each audit (VmHWM, reset before it).

Memory: analyse() (groups, parts, findings) on N synthetic PhotoEvidence items (maps with a
blob where objects sit, object masks, tokens kept only for the reservoir sample, as collect
keeps them), its peak traced allocation and VmHWM at several N; and collect's kept state per
photo (tracemalloc over the items collect keeps, tokens aside).

Each part prints every figure as it comes and writes benchmarks/results/audit-PART[-TAG].md;
benchmarks/results/audit.md is the summary that cites them.
Usage: python benchmarks/audit.py [--only known,clean,speed,memory] [--per-photo 6]
  [--clean 8 --clean-seed 100] [--known-seeds 0] [--speed-photos 500] [--memory 10000] [--tag T]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, peak_rss, write_results  # noqa: E402

SHORTCUTS = {"same_spot", "small_spot", "outside_object", "own_part"}
PARTS = ("known", "clean", "speed", "memory")


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets this process's VmHWM to its present size."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def started_on() -> str:
    """The revision when the run started, and whether the audit's code differed from it then."""
    import subprocess

    changed = subprocess.run(["git", "status", "--porcelain", "vit_gui/audit", "benchmarks/audit.py"],
                             capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent).stdout
    return f"revision {git_revision()}" + (" with uncommitted changes to the audit's code" if changed.strip() else "")


def shortcut_findings(report: dict) -> dict[str, list[dict]]:
    return {c["name"]: [f for f in c["findings"] if f["kind"] in SHORTCUTS] for c in report["classes"]}


def share_in(finding_photos: list[str], photos: list[str]) -> float:
    return sum(p in finding_photos for p in photos) / max(len(photos), 1)


def measures(result) -> dict[str, str]:
    """Each class's same-spot, small-spot and outside-object shares against the other classes',
    as findings.py computes them (whether or not a finding was made): how near each came."""
    from vit_gui.audit import findings as fd

    evidence, labels = result.collected.evidence, np.array(result.collected.labels)
    heats = np.stack([e.heat for e in evidence])
    spots = np.stack([e.spot for e in evidence])  # the map the spot findings read
    objects, photos = np.stack([e.object for e in evidence]), np.stack([e.photo for e in evidence])
    said = {}
    for c, name in enumerate(result.collected.classes):
        own, rest = labels == c, labels != c
        peaks, others = fd.peaks(spots[own]), fd.peaks(spots[rest])
        best = max(((fd._in_box(peaks, r, k).mean(), fd._in_box(others, r, k).mean())
                    for r in range(13) for k in range(13)), key=lambda v: v[0])
        mass = fd.spot_mass(spots[own])[0]
        spot = ((mass >= fd.SPOT_MASS).mean(), (fd.spot_mass(spots[rest])[0] >= fd.SPOT_MASS).mean())

        def out(mask):
            return ((fd.outside_share(heats[mask], objects[mask]) > fd.OUTSIDE_MASS)
                    & fd.stands_out(objects[mask], photos[mask])).mean()

        said[name] = (f"same spot {best[0]:.0%}/{best[1]:.0%}, small spot {spot[0]:.0%}/{spot[1]:.0%} "
                      f"(median spot mass {np.median(mass):.2f}), "
                      f"outside {out(own):.0%}/{out(rest):.0%}")
    return said


class Bench:
    def __init__(self, args):
        from vit_gui.explain.planted import real_photos
        from vit_gui.model.catalog import default_model_path
        from vit_gui.predict import Predictor

        self.args = args
        self.photos = real_photos()
        self.base = default_model_path()
        self.backbone = Predictor.from_file(self.base)
        self.work = Path(tempfile.mkdtemp(prefix="audit-bench-"))
        self.lines: list[str] = []
        self.revision = started_on()

    def said(self, *new: str) -> None:  # each figure as it comes: a run cut short still shows what it measured
        self.lines.extend(new)
        print(*new, sep="\n", flush=True)

    def write(self, part: str, title: str) -> None:
        name = f"audit-{part}" + (f"-{self.args.tag}" if self.args.tag else "")
        head = [f"Run on {self.revision} with `benchmarks/audit.py {' '.join(sys.argv[1:])}`; "
                f"{self.args.per_photo} crops per photo and folder.", ""]
        write_results(name, title, head + self.lines)
        self.lines = []

    def known(self) -> None:
        from vit_gui.audit import known
        from vit_gui.audit.run import audit, to_json

        per, photos = self.args.per_photo, self.photos
        cases = [("logo at one spot", "marked", lambda r, s: known.planted_logo(r, photos, per, True, s), "gradcam"),
                 ("logo at random spots", "marked", lambda r, s: known.planted_logo(r, photos, per, False, s),
                  "gradcam"),
                 ("logo at random spots", "marked", lambda r, s: known.planted_logo(r, photos, per, False, s),
                  "class"),
                 ("objects on grass", "grass", lambda r, s: known.planted_background(r, photos, per, s), "gradcam")]
        self.said("| case | seed | map | probe right (its own photos) | findings for the planted class "
                  "| its crops in the finding | its source photos in the finding | other classes flagged |",
                  "|---|---|---|---|---|---|---|---|")
        for seed in self.args.known_seeds:
            for number, (name, target, make, kind) in enumerate(cases):
                folder = make(self.work / f"case{number}-{seed}", seed)
                model, accuracy = known.teach_probe(self.backbone, self.base, folder)
                report = to_json(audit(folder.root, model, kind=kind))
                found = shortcut_findings(report)
                item = next(c for c in report["classes"] if c["name"] == target)
                flagged = found[target]
                best = max(flagged, key=lambda f: share_in(f["photos"], item["photos"]), default=None)
                covered = share_in(best["photos"], item["photos"]) if best else 0.0
                sources = {folder.source[p] for p in item["photos"]}
                hit = {folder.source[p] for p in best["photos"] if p in folder.source} if best else set()
                others = sorted(c for c, fs in found.items() if c != target and fs)
                self.said(f"| {name} | {seed} | {kind} | {accuracy:.0%} | "
                          f"{', '.join(f['kind'] for f in flagged) or 'none'} | "
                          f"{round(covered * len(item['photos']))} of {len(item['photos'])} ({covered:.0%}) | "
                          f"{len(hit & sources)} of {len(sources)} | {', '.join(others) or 'none'} |")
        self.write("known", "The audit's known answers (issue #30)")

    def clean(self) -> None:
        from vit_gui.audit import known
        from vit_gui.audit.run import audit, to_json

        seeds = range(self.args.clean_seed, self.args.clean_seed + self.args.clean)
        self.said(f"Seeds {seeds.start}-{seeds.stop - 1}: each draws the split and the crops. Measures: share of the "
                  "class's photos / of the other class's (same spot: the best box's peak share; small spot: a "
                  "sixteenth box holding the SPOT_MASS; outside: over half the map outside an object that stands out).",
                  "")
        alarms, classes_flagged, photos = 0, 0, 0
        for seed in seeds:
            split = known.random_split(self.photos, seed)
            folder = known.clean(self.work / f"clean{seed}", self.photos, split, self.args.per_photo, seed)
            model, accuracy = known.teach_probe(self.backbone, self.base, folder)
            result = audit(folder.root, model)
            found = shortcut_findings(to_json(result))
            flagged = {c: [f["kind"] for f in fs] for c, fs in found.items() if fs}
            alarms += bool(flagged)
            classes_flagged += len(flagged)
            photos += len(result.collected.paths)
            near = measures(result)
            self.said(f"- seed {seed}: class0 = {' + '.join(split[0])}, class1 = {' + '.join(split[1])} "
                      f"(probe right on {accuracy:.0%}): "
                      + (", ".join(f"{c}: {', '.join(k)}" for c, k in flagged.items()) or "no shortcut finding")
                      + "; " + "; ".join(f"{c}: {m}" for c, m in near.items()))
        self.said("", f"{alarms} of {self.args.clean} clean folders ({classes_flagged} of {2 * self.args.clean} classes) "
                  f"had a shortcut finding (Grad-CAM; {photos} photos in all, {self.args.per_photo * 4} crops a class, "
                  "4 source photos a class; every folder is a split of the same 8 photos, so they are not "
                  "independent).")
        self.write("clean", "The audit's false alarms on clean folders (issue #30)")

    def speed(self) -> None:
        from vit_gui.audit import known
        from vit_gui.audit.run import audit, to_json

        per = max(1, -(-self.args.speed_photos // 8))
        root = self.work / "speed"
        folder = known.clean(root, self.photos, [[name] for name in sorted(self.photos)], per)
        self.said("Timed on cores the runner says were idle (--idle)." if self.args.idle else
                  "Timed beside other work on the same cores: read the times as rough.", "")
        runs = [("built-in backbone", self.backbone)]
        model, _ = known.teach_probe(self.backbone, self.base, folder)
        runs.append(("probe taught on them", model))
        for name, predictor in runs:
            reset_peak()
            before = peak_rss()
            t = time.perf_counter()
            report = to_json(audit(folder.root, predictor))
            seconds = time.perf_counter() - t
            count = sum(len(c["photos"]) for c in report["classes"])
            self.said(f"- {name} (map {report['map']}), {count} photos in 8 class folders: {seconds:.1f} s in all, "
                      f"{seconds / count:.3f} s a photo (model, maps, groups, parts, findings); peak memory "
                      f"{peak_rss() / 2**20:.0f} MiB (the process held {before / 2**20:.0f} MiB before)")
        self.write("speed", "The audit's speed and memory on real photos (issue #30)")

    def memory(self) -> None:
        self.said("Synthetic evidence: 16 x 16 maps (a blob where an object sits, a third of them on one of a "
                  "few spots), object masks, tokens (256 x 384 float16) kept for each class's reservoir sample "
                  "only, through collect's own reservoir. Peak: tracemalloc's peak over analyse(), and VmHWM "
                  "(reset before).", "",
                  "| photos | classes | tokens kept | analyse() peak traced | VmHWM during | time (beside other work) |",
                  "|---|---|---|---|---|---|")
        for count in self.args.memory_steps:
            for classes in (2, 10):
                collected = synthetic(count, classes)
                self.said(analyse_memory(collected))
        self.said("", kept_per_photo(2000))
        self.write("memory", "The audit's memory for large folders (issue #30)")


def synthetic(count: int, classes: int, seed: int = 0):
    """A Collected of `count` photos in `classes` classes, as collect would keep them."""
    from vit_gui.audit.collect import Collected, _reservoir
    from vit_gui.audit.evidence import SIDE, PhotoEvidence

    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    r, c = np.mgrid[:SIDE, :SIDE]
    seen, held, evidence, labels = {}, {}, [], []
    photo = np.ones((SIDE, SIDE), bool)
    for i in range(count):
        label = i % classes
        row, col = rng.uniform(2, 13, 2) if rng.random() > 1 / 3 else (3.0 + label % 3 * 4, 12.0)
        heat = np.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * rng.uniform(1, 3) ** 2)) + rng.random((SIDE, SIDE)) * .05
        obj = np.zeros((SIDE, SIDE), bool)
        y, x = rng.integers(2, 8, 2)
        obj[y:y + 6, x:x + 6] = True
        spot = heat ** 2  # a classifier's photo keeps a second map for the spot findings
        item = PhotoEvidence((heat / heat.sum()).astype(np.float32), photo.copy(), obj, (0.0, 0.0, 1.0, 1.0), label,
                             rng.standard_normal((SIDE * SIDE, 384)).astype(np.float16),
                             (spot / spot.sum()).astype(np.float32))
        _reservoir(pick, seen, held, label, len(evidence), item, evidence)
        evidence.append(item)
        labels.append(label)
    return Collected([Path(f"/photos/{i:06d}.jpg") for i in range(count)], labels, evidence,
                     [f"class{k}" for k in range(classes)], [], 0.0)


def analyse_memory(collected) -> str:
    from vit_gui.audit.run import analyse

    kept = sum(e.tokens is not None for e in collected.evidence)
    reset_peak()
    before = peak_rss()
    tracemalloc.start()
    t = time.perf_counter()
    analyse(collected)
    seconds = time.perf_counter() - t
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (f"| {len(collected.paths)} | {len(collected.classes)} | {kept} | {traced / 2**20:.1f} MiB | "
            f"+{(peak_rss() - before) / 2**20:.0f} MiB over {before / 2**20:.0f} | {seconds:.1f} s |")


def kept_per_photo(count: int) -> str:
    """Bytes collect keeps per photo beyond the token sample: its path, label and evidence."""
    tracemalloc.start()
    collected = synthetic(count, 2)
    for e in collected.evidence:
        e.tokens = None
    now, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del collected
    return (f"collect's kept state, tokens aside: {now / count / 1024:.2f} KiB a photo (tracemalloc over {count} "
            "synthetic photos: path, label, two maps, masks, box): "
            f"{now / count * 10000 / 2**20:.0f} MiB for 10,000 photos")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="known,clean", help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--per-photo", type=int, default=6, help="crops cut from each photo per folder")
    parser.add_argument("--clean", type=int, default=8, help="clean folders (random splits of the 8 photos)")
    parser.add_argument("--clean-seed", type=int, default=100, help="the first clean folder's seed")
    parser.add_argument("--known-seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0])
    parser.add_argument("--speed-photos", type=int, default=96, help="photos timed on the backbone and a probe")
    parser.add_argument("--memory", type=int, default=10000, help="the most synthetic photos for the memory part")
    parser.add_argument("--tag", default="", help="results go to audit-PART-TAG.md")
    parser.add_argument("--idle", action="store_true", help="the speed part's cores were idle: say so in the results")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        parser.error(f"--only takes {', '.join(PARTS)}")
    args.memory_steps = sorted({max(100, args.memory // 10), args.memory})
    if parts == ["memory"]:
        bench = Bench.__new__(Bench)
        bench.args, bench.lines, bench.revision = args, [], started_on()
    else:
        bench = Bench(args)
    for part in parts:
        started = time.perf_counter()
        getattr(bench, part)()
        print(f"({part}: {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()

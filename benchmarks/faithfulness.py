"""How faithful is each map method? Deletion and insertion (negative perturbation) areas
on real weights: the built-in DINOv2 ViT-S/14 with a probe taught on four classes cut from
scikit-image's photos (cat, cup, rocket, astronaut), and every ImageNet classifier in
../shared/models (none there today: the run says so).

Methods: rollout over all blocks, rollout from block 2 (the model's default), the last
block's attention (heads averaged), each head of the last block (mean and best), the
class-specific map (Chefer et al.), and a random map. Removal by dropping patch tokens and
by the mean colour; areas of the explained class's probability and of "top-1 still holds"
(the accuracy curve Chefer et al. report). Writes benchmarks/results/faithfulness.md.
Usage: python benchmarks/faithfulness.py [--images 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402

PHOTOS = {"cat": "chelsea", "cup": "coffee", "rocket": "rocket", "astronaut": "astronaut"}


def crops(root: Path, per_class: int, seed: int) -> Path:
    """Random crops of 50-100% of each photo, mirrored at random."""
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


def maps_for(predictor, image, class_index):
    import numpy as np

    from vit_gui.explain.maps import MapSpec

    prediction = predictor.predict([image], with_attentions=True)[0]
    depth, heads = predictor.info.architecture.depth, predictor.info.architecture.num_heads
    found = {
        "rollout, all blocks": prediction.map(MapSpec("rollout")),
        "rollout from block 2": prediction.map(MapSpec("rollout", start_block=1)),
        f"block {depth}, heads averaged": prediction.map(MapSpec("block", block=depth - 1)),
        "class-specific (Chefer et al.)": predictor.class_map(image, class_index)[0],
        "random map": np.random.default_rng(class_index).random(prediction.grid),
    }
    heads_maps = {f"block {depth}, head {h + 1}": prediction.map(MapSpec("head", block=depth - 1, head=h))
                  for h in range(heads)}
    return found, heads_maps


def evaluate(predictor, images, removal):
    from vit_gui.explain.faithfulness import curves

    rows: dict[str, dict[str, list[float]]] = {}
    for image in images:
        class_index = int(predictor.predict([image])[0].probs.argmax())
        found, heads = maps_for(predictor, image, class_index)
        for name, grid_map in {**found, **heads}.items():
            result = curves(predictor, image, grid_map, class_index, removal=removal, random_orders=0)
            figures = rows.setdefault(name, {"del": [], "ins": [], "del_top1": [], "ins_top1": []})
            figures["del"].append(result.deletion.auc)
            figures["ins"].append(result.insertion.auc)
            for key, curve in (("del_top1", result.deletion), ("ins_top1", result.insertion)):
                holds = curve.holds.astype(float)
                figures[key].append(float(((holds[1:] + holds[:-1]) / 2 * (curve.fractions[1:] - curve.fractions[:-1])).sum()))
    return rows


def table(rows, heads_prefix):
    mean = statistics.fmean
    head_names = [n for n in rows if n.startswith(heads_prefix) and "head " in n]
    lines = ["| map | deletion AUC ↓ (prob) | insertion AUC ↑ (prob) | deletion AUC ↓ (top-1) | insertion AUC ↑ (top-1) |",
             "| --- | --- | --- | --- | --- |"]
    shown = [n for n in rows if n not in head_names]
    for name in shown[:3] + ["__heads__"] + shown[3:]:
        if name == "__heads__":
            best = min(head_names, key=lambda n: mean(rows[n]["del"]))
            for label, n in (("last block, single heads (mean of heads)", None), (f"{best} (best head)", best)):
                pick = (lambda k, n=n: mean(rows[n][k])) if n else (lambda k: mean(mean(rows[h][k]) for h in head_names))
                lines.append(f"| {label} | {pick('del'):.3f} | {pick('ins'):.3f} | {pick('del_top1'):.3f} | "
                             f"{pick('ins_top1'):.3f} |")
            continue
        r = rows[name]
        lines.append(f"| {name} | {mean(r['del']):.3f} | {mean(r['ins']):.3f} | {mean(r['del_top1']):.3f} | "
                     f"{mean(r['ins_top1']):.3f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16, help="validation crops evaluated (a quarter per class)")
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
    predictor = Predictor.from_file(path)
    images = [Image.open(p).convert("RGB") for p, _ in taught.val]
    lines = [f"Commit {git_revision()}. Model: the built-in DINOv2 ViT-S/14 with a probe taught on "
             f"{taught.facts['train_images']} crops of four scikit-image photos ({', '.join(PHOTOS)}); "
             f"validation accuracy {taught.facts['validation_accuracy']:.0%} on the {len(images)} held-out crops "
             "evaluated here. 10 steps of 10% of the patches; areas under the curves of the explained (predicted) "
             "class's probability and of whether it is still the top-1 class. Deletion removes the most relevant "
             "patches first (lower is better), insertion the least relevant first (Chefer et al.'s negative "
             "perturbation; higher is better).", ""]
    for removal, words in (("drop", "patch tokens dropped"), ("mean", "patches filled with the mean colour")):
        rows = evaluate(predictor, images, removal)
        lines += [f"### Removal: {words}", ""] + table(rows, "block") + [""]
        print("\n".join(lines[-(len(rows) + 4):]), flush=True)
    shared = sorted(p for p in (Path(__file__).resolve().parents[1] / ".." / "shared" / "models").glob("*.safetensors"))
    lines += ["ImageNet classifiers in ../shared/models: " + (", ".join(p.name for p in shared) if shared else
              "none (the folder is empty on this machine), so no ImageNet figures of our own."), ""]
    write_results("faithfulness", "Faithfulness of each map method (deletion / insertion)", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""int8 that keeps the maps, step by step, on the built-in DINOv2 ViT-S/14 backbone: each rule
of vit_gui/model/int8.py added to naive dynamic int8 in turn, with the features' and rollout
maps' agreement with float32, a taught probe's top 5, and the speed; then every layer's
sensitivity alone; then a ViT-B/16 with random weights. Photos: the three samples the app
ships (int8 measures its scales on them) and 13 scikit-image photos it never sees.

Writes benchmarks/results/int8.md. Usage: python benchmarks/int8.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = ("astronaut", "camera", "coins", "moon", "page", "clock", "logo", "immunohistochemistry", "retina",
            "hubble_deep_field", "cat", "coffee", "rocket")
PROBE_CLASSES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "moon", "page")


def as_rgb(array):
    import numpy as np
    from PIL import Image

    return Image.fromarray(array if array.ndim == 3 else np.stack([array] * 3, -1)).convert("RGB")


def photos():
    """(calibration photos, held-out photos)."""
    import skimage.data as data
    from PIL import Image

    samples = [Image.open(p).convert("RGB") for p in sorted((ROOT / "resources" / "samples").glob("*.jpg"))]
    return samples, [as_rgb(getattr(data, name)()) for name in HELD_OUT]


def variants(model, calibration):
    """{step: int8 model}: naive dynamic int8, then each rule added."""
    import torch
    from torch import nn
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    from vit_gui.model import int8

    def dynamic(copy, names, qconfig):
        for name in names:
            layer = copy.get_submodule(name)
            layer.qconfig = qconfig
            parent, _, child = name.rpartition(".")
            setattr(copy.get_submodule(parent), child, DynamicLinear.from_float(layer))
        return copy

    def blocks_linear(copy):
        return [n for n, m in copy.named_modules() if isinstance(m, nn.Linear) and n.startswith("blocks.")]

    def per_photo(smooth, keep=()):
        copy = int8.float_copy(model)
        if smooth:
            int8.smooth(copy, calibration)
        for name, layer in int8.quantisable(copy).items():
            if name not in keep:
                parent, _, child = name.rpartition(".")
                setattr(copy.get_submodule(parent), child, int8.PerPhotoInt8(layer))
        return copy

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        naive = int8.float_copy(model, split=False)
        channel = int8.float_copy(model, split=False)
        split = int8.float_copy(model)
        return {
            "every linear layer int8, one scale per tensor (before)": dynamic(naive, blocks_linear(naive),
                                                                             default_dynamic_qconfig),
            "+ one weight scale per output channel": dynamic(channel, blocks_linear(channel), per_channel_dynamic_qconfig),
            "+ query and key in float32": dynamic(split, list(int8.quantisable(split)), per_channel_dynamic_qconfig),
            "+ activations quantised photo by photo": per_photo(smooth=False),
            "+ SmoothQuant (folded into LayerNorms and the value projection)": per_photo(smooth=True),
            "+ block 1's first MLP layer in float32 (what runs)": int8.quantised(model, calibration),
        }


def agreement(predictor, model, images, reference):
    """(lowest feature cosine, largest rollout difference, largest rollout-from-block-2 difference)."""
    import numpy as np

    from vit_gui.explain.maps import MapSpec

    original, predictor.model = predictor.model, model
    try:
        got = predictor.predict(images, with_attentions=True)
    finally:
        predictor.model = original
    from_two = MapSpec("rollout", start_block=1)
    cosines = [float(np.dot(a.features, b.features) / np.linalg.norm(a.features) / np.linalg.norm(b.features))
               for a, b in zip(got, reference)]
    maps = [float(np.abs(a.map() - b.map()).max()) for a, b in zip(got, reference)]
    maps_two = [float(np.abs(a.map(from_two) - b.map(from_two)).max()) for a, b in zip(got, reference)]
    return min(cosines), max(maps), max(maps_two)


def same_top5(probe, model, images, reference):
    """(photos whose top 5 classes, in order, are float32's; photos whose classes above 1%, in
    order, are float32's): below 1% a probe's ranks are noise that bfloat16 reorders too."""
    original, probe.model = probe.model, model
    try:
        got = probe.predict(images)
    finally:
        probe.model = original

    def above(prediction, reference_prediction):
        return [c.index for c in prediction.top if c.prob >= 0.01 or
                any(r.index == c.index and r.prob >= 0.01 for r in reference_prediction.top)]

    strict = sum([c.index for c in a.top] == [c.index for c in b.top] for a, b in zip(got, reference))
    return strict, sum(above(a, b) == above(b, b) for a, b in zip(got, reference))


def speeds(models, pixels, repeats):
    """{name: [images/s]}: interleaved, shuffled rounds, so drifting load touches every model alike."""
    import torch

    samples = {name: [] for name in models}
    order = list(models)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in models.values():
            model(pixels)
        for _ in range(repeats):
            random.shuffle(order)
            for name in order:
                start = time.perf_counter()
                models[name](pixels)
                samples[name].append(len(pixels) / (time.perf_counter() - start))
    return samples


def cell(values, base=None):
    median = statistics.median(values)
    text = f"{median:.1f} ({min(values):.1f}–{max(values):.1f}; n={len(values)})"
    return text if base is None else f"{text} | {median / base:.2f}×"


def teach_probe(backbone, base, work):
    """A linear probe taught on crops of eight scikit-image photos."""
    import numpy as np
    import skimage.data as data

    from vit_gui.predict import Predictor
    from vit_gui.teach.run import teach
    from vit_gui.teach.save import save_taught_model

    rng = np.random.default_rng(0)
    for name in PROBE_CLASSES:
        picture = as_rgb(getattr(data, name)())
        (work / "train" / name).mkdir(parents=True)
        for i in range(8):
            scale = rng.uniform(0.5, 1.0) ** 0.5
            w, h = int(picture.width * scale), int(picture.height * scale)
            x, y = rng.integers(0, picture.width - w + 1), rng.integers(0, picture.height - h + 1)
            picture.crop((x, y, x + w, y + h)).save(work / "train" / name / f"{i}.png")
    taught = teach([work / "train"], backbone, base)
    path = save_taught_model(base, backbone.info, taught.digest, taught.dataset.classes, taught.probe, taught.facts,
                             "int8-probe", work)
    return Predictor.from_file(path)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    import torch

    from vit_gui.model import int8
    from vit_gui.model.catalog import discover_models
    from vit_gui.predict import Predictor

    base = next(e.path for e in discover_models() if "dinov2" in e.path.name)
    predictor = Predictor.from_file(base)
    calibration_images, held_out = photos()
    calibration = predictor.prepare(calibration_images)[0]
    everything = calibration_images + held_out
    reference = predictor.predict(everything, with_attentions=True)
    probe = teach_probe(predictor, base, Path(tempfile.mkdtemp()))
    probe_reference = probe.predict(everything)
    models = variants(predictor.model, calibration)
    probe_models = variants(probe.model, calibration)
    rows = ["| step | feature cosine, lowest: samples / held out | rollout, largest difference | rollout from block 2, "
            "largest difference | probe's top 5 unchanged: in order / classes above 1% | images/s, batch 16 (median; min–max; n) | vs float32 |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    pixels = predictor.prepare((everything * 2)[: args.batch])[0]
    timing = speeds({"float32": predictor.model, **models}, pixels, args.repeats)
    fp32 = statistics.median(timing["float32"])
    rows.append(f"| float32 | 1.00000 / 1.00000 | 0 | 0 | {len(everything)} / {len(everything)} of {len(everything)} | "
                f"{cell(timing['float32'], fp32)} |")
    for step, model in models.items():
        cal = agreement(predictor, model, calibration_images, reference[:3])
        held = agreement(predictor, model, held_out, reference[3:])
        top5 = same_top5(probe, probe_models[step], everything, probe_reference)
        rows.append(f"| {step} | {cal[0]:.5f} / {held[0]:.5f} | {max(cal[1], held[1]):.3f} | "
                    f"{max(cal[2], held[2]):.3f} | {top5[0]} / {top5[1]} of {len(everything)} | {cell(timing[step], fp32)} |")
        print(rows[-1], flush=True)

    sensitivity = ["| layer | feature cosine with only this layer int8 (lowest over the photos) |", "| --- | --- |"]
    copy = int8.float_copy(predictor.model)
    few = calibration_images + held_out[:4]
    for name, layer in int8.quantisable(copy).items():
        parent, _, child = name.rpartition(".")
        setattr(copy.get_submodule(parent), child, int8.PerPhotoInt8(layer))
        worst = agreement(predictor, copy, few, reference[: len(few)])[0]
        setattr(copy.get_submodule(parent), child, layer)
        sensitivity.append((worst, f"| {name} | {worst:.5f} |"))
    ranked = [line for _, line in sorted(sensitivity[2:])]

    torch.manual_seed(0)
    from vit_gui.model.vit import VisionTransformer

    vit_b = VisionTransformer(num_classes=1000).eval().requires_grad_(False)
    vit_b_int8 = int8.quantised(vit_b, calibration)
    b_pixels = pixels[: args.batch]
    b_timing = speeds({"float32": vit_b, "int8": vit_b_int8}, b_pixels, max(3, args.repeats - 2))
    with torch.inference_mode():
        theirs, ours = vit_b(b_pixels), vit_b_int8(b_pixels)
    b_cosine = float(torch.nn.functional.cosine_similarity(ours.logits.double(), theirs.logits.double()).min())
    auto = Predictor.from_file(base, precision="auto").precision
    lines = [f"Commit {git_revision()}. Photos: the 3 sample photos (int8's scales are measured on them) and "
             f"{len(held_out)} held-out scikit-image photos ({', '.join(HELD_OUT)}). Probe: taught on 8 crops each of "
             f"{len(PROBE_CLASSES)} scikit-image photos. Speed: batch {args.batch}, {args.repeats} interleaved rounds.",
             "", "## Step by step (built-in DINOv2 ViT-S/14)", "", *rows, "",
             "## Each layer alone (per-channel int8 weights, activations per photo, no smoothing; the 3 samples and "
             "4 held-out photos), most sensitive first", "", *sensitivity[:2], *ranked[:12], "",
             f"({len(ranked) - 12} more layers, each above {float(ranked[11].split('|')[2]):.5f}.)", "",
             "## ViT-B/16 with random weights", "",
             "| format | images/s (median; min–max; n) | vs float32 | logits cosine, lowest |", "| --- | --- | --- | --- |",
             f"| float32 | {cell(b_timing['float32'], statistics.median(b_timing['float32']))} | 1.00000 |",
             f"| int8 | {cell(b_timing['int8'], statistics.median(b_timing['float32']))} | {b_cosine:.5f} |", "",
             f"`auto` here: **{auto.name}**: {auto.reason}."]
    write_results("int8", "int8 that keeps the maps", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

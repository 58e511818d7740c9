"""Speed of classification and maps: vit-gui against Hugging Face transformers.

Same weights (random, ViT-B/16 and ViT-S/16 shapes, loaded into both from one state
dict), same inputs, same process. Cases are interleaved and their order shuffled in each
round, so a drifting load touches all alike; every figure is median (min–max; n), with
ratios against transformers measured in the same run, and throughput is also given as a
fraction of this machine's float32 matmul peak, measured in the same run.
Writes benchmarks/results/speed-<device>.md.

Usage: python benchmarks/speed.py [--device cpu|cuda] [--repeats 25] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, matmul_gflops, spread, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {"ViT-B/16": (768, 12, 3072), "ViT-S/16": (384, 6, 1536)}


def make_models(shape: str, device: torch.device):
    """(ours, transformers SDPA, transformers eager) with identical weights."""
    from transformers import ViTConfig, ViTForImageClassification

    from vit_gui.model.checkpoints import load_model

    width, heads, mlp = SHAPES[shape]
    torch.manual_seed(0)
    config = dict(hidden_size=width, num_hidden_layers=12, num_attention_heads=heads, intermediate_size=mlp,
                  num_labels=1000, layer_norm_eps=1e-6)
    sdpa = ViTForImageClassification(ViTConfig(**config, attn_implementation="sdpa")).eval()
    eager = ViTForImageClassification(ViTConfig(**config, attn_implementation="eager")).eval()
    eager.load_state_dict(sdpa.state_dict())
    folder = Path(tempfile.mkdtemp())
    torch.save(sdpa.state_dict(), folder / "model.pth")
    ours = load_model(folder / "model.pth")
    return ours, sdpa.to(device), eager.to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def interleaved(cases: dict, repeats: int, device) -> dict[str, list[float]]:
    """Seconds per call of each case: `repeats` rounds, each calling every case once in a
    freshly shuffled order, after two warm-up calls each."""
    for fn in cases.values():
        fn()
        fn()
    samples = {name: [] for name in cases}
    order = list(cases)
    for _ in range(repeats):
        random.shuffle(order)
        for name in order:
            sync(device)
            start = time.perf_counter()
            cases[name]()
            sync(device)
            samples[name].append(time.perf_counter() - start)
    return samples


def med(samples: list[float]) -> float:
    return statistics.median(samples)


def vit_gflop(shape: str, tokens: int = 197, patches: int = 196) -> float:
    """Floating-point operations (multiply and add counted apart) of one 224-px image
    through a 12-block ViT: the linear layers, attention's two matmuls, the patch conv."""
    width, _, mlp = SHAPES[shape]
    per_block = 2 * tokens * (4 * width * width + 2 * width * mlp) + 4 * tokens * tokens * width
    return (12 * per_block + 2 * patches * width * 768) / 1e9


def latency(shape: str, device, repeats: int) -> list[str]:
    from vit_gui.explain.rollout import rollout

    ours, sdpa, eager = make_models(shape, device)
    model = ours.model.to(device)
    pixels = torch.randn(1, 3, 224, 224, device=device)

    def ours_plain():
        with torch.inference_mode():
            return model(pixels).logits

    def ours_maps():
        with torch.inference_mode():
            out = model(pixels, return_attention=True)
            attn = out.attention_stack[0].float().cpu()  # as the app keeps them: no copy
        return rollout(attn, (14, 14))

    def hf_plain():
        with torch.inference_mode():
            return sdpa(pixel_values=pixels).logits

    def hf_eager_attn():
        with torch.inference_mode():
            return eager(pixel_values=pixels, output_attentions=True).attentions

    t = interleaved({"ours": ours_plain, "ours+maps": ours_maps, "hf": hf_plain, "hf-eager": hf_eager_attn},
                    repeats, device)
    plain_ratio = med(t["ours"]) / med(t["hf"])
    maps_ratio = med(t["ours+maps"]) / med(t["hf"])
    fair_ratio = med(t["ours+maps"]) / med(t["hf-eager"])
    return [
        f"| {shape} | plain classification | {spread(t['ours'])} | {spread(t['hf'])} (SDPA) | "
        f"**{plain_ratio:.3f}** | ≤ 1.02 | {'met' if plain_ratio <= 1.02 else 'MISSED'} |",
        f"| {shape} | all attentions + rollout | {spread(t['ours+maps'])} | {spread(t['hf'])} (SDPA, no maps) | "
        f"**{maps_ratio:.3f}** | ≤ 1.10 | {'met' if maps_ratio <= 1.10 else 'MISSED'} |",
        f"| {shape} | all attentions + rollout | {spread(t['ours+maps'])} | {spread(t['hf-eager'])} "
        f"(eager, attentions only) | **{fair_ratio:.3f}** | (fair baseline) | |",
    ]


def class_map_cost(shape: str, device, repeats: int) -> str:
    from PIL import Image

    from vit_gui.predict import Predictor

    ours, _, _ = make_models(shape, device)
    predictor = Predictor(ours, device.type)
    image = Image.open(ROOT / "resources" / "samples" / "chelsea.jpg").convert("RGB")

    def rollout_path():
        return predictor.predict([image], with_attentions=True)[0].map()

    def class_path():
        return predictor.class_map(image, 281)[0]

    t = interleaved({"rollout": rollout_path, "class": class_path}, max(5, repeats // 2), device)
    return (f"| {shape} | {spread(t['rollout'])} | {spread(t['class'])} | "
            f"{med(t['class']) / med(t['rollout']):.2f}× |")


def recompute_maps(shape: str, device, repeats: int) -> list[str]:
    """Map switching in the app: from kept attentions, no model run."""
    from vit_gui.explain import rollout as ro

    ours, _, _ = make_models(shape, device)
    with torch.inference_mode():
        out = ours.model.to(device)(torch.randn(1, 3, 224, 224, device=device), return_attention=True)
    attn = torch.stack(out.attentions, dim=1)[0].float().cpu()
    grid = (14, 14)
    cases = {
        "rollout, mean": lambda: ro.rollout(attn, grid, "mean"),
        "rollout, max": lambda: ro.rollout(attn, grid, "max"),
        "rollout, min, discard 0.9": lambda: ro.rollout(attn, grid, "min", 0.9),
        "one block (mean)": lambda: ro.block_map(attn, grid, 5, "mean"),
        "one head": lambda: ro.head_map(attn, grid, 5, 3),
        "all 12 blocks (tiles)": lambda: ro.block_maps(attn, grid, "mean"),
    }
    t = interleaved(cases, repeats * 2, torch.device("cpu"))
    return [f"| {shape} | {name} | {spread(seconds, digits=2)} | {'met' if med(seconds) < 0.02 else 'MISSED'} |"
            for name, seconds in t.items()]


def throughput(shape: str, device, repeats: int, batch: int = 32) -> str:
    """Images per second from a folder of real JPEGs: decode + preprocess + model."""
    from PIL import Image

    from vit_gui.images import find_images, load_image
    from vit_gui.predict import Predictor

    folder = Path(tempfile.mkdtemp())
    samples = sorted((ROOT / "resources" / "samples").glob("*.jpg"))
    for i in range(batch):  # real photos, re-encoded so each file is decoded afresh
        Image.open(samples[i % len(samples)]).convert("RGB").save(folder / f"{i:03d}.jpg", quality=90)
    paths = find_images([folder])
    ours, sdpa, _ = make_models(shape, device)
    predictor = Predictor(ours, device.type)

    def ours_batch():
        return predictor.predict([load_image(p).image for p in paths], top_k=5)

    def hf_batch():
        pixels, _ = predictor.prepare([load_image(p).image for p in paths])  # the same preprocessing
        with torch.inference_mode():
            probs = torch.softmax(sdpa(pixel_values=pixels).logits, -1)
        return probs.topk(5)

    t = interleaved({"ours": ours_batch, "hf": hf_batch}, max(3, repeats // 5), device)
    ratio = med(t["hf"]) / med(t["ours"])  # throughput ratio = inverse time ratio
    return (f"| {shape} | {images_per_s(t['ours'], batch)} | {images_per_s(t['hf'], batch)} | **{ratio:.3f}** | "
            f"≥ 0.95 | {'met' if ratio >= 0.95 else 'MISSED'} |")


def images_per_s(seconds: list[float], batch: int) -> str:
    return spread([1 / s for s in seconds], scale=batch) + " img/s"


def precisions(shape: str, device, repeats: int, peaks: dict, batch: int = 32) -> list[str]:
    """Model-only batch throughput of each number format against transformers' default
    float32 (SDPA) on the same weights and the same real-photo batch, with top-5 agreement
    against our float32 and the fraction of the matmul peak in the format's own number type
    (int8 has no such peak measured: its matmuls are integer)."""
    from PIL import Image

    from vit_gui.predict import Predictor

    ours, sdpa, _ = make_models(shape, device)
    names = ["float32", "bfloat16", "int8", "auto"] if device.type == "cpu" else ["float32", "float16", "bfloat16"]
    predictors = {}
    for name in names:
        loaded = copy.deepcopy(ours) if name != "float32" else ours  # each format converts its own copy
        predictors[name] = Predictor(loaded, device.type, name)
    photos = [Image.open(p).convert("RGB") for p in sorted((ROOT / "resources" / "samples").glob("*.jpg"))]
    pixels, _ = predictors["float32"].prepare((photos * batch)[:batch])
    pixels = pixels.to(device)

    def run(model, dtype=torch.float32):
        def call():
            with torch.inference_mode():
                return model(pixels.to(dtype)).logits.float()
        return call

    cases = {f"vit-gui {name} ({p.precision.name})" if name == "auto" else f"vit-gui {name}":
             run(p.model, p.precision.dtype) for name, p in predictors.items()}
    formats = {case: p.precision.name for case, p in zip(cases, predictors.values())}
    cases["transformers float32 (SDPA)"] = run(lambda p: sdpa(pixel_values=p))
    reference = cases["vit-gui float32"]().topk(5).indices
    t = interleaved(cases, max(3, repeats // 5), device)
    base = med(t["transformers float32 (SDPA)"])
    rows = []
    for name, seconds in t.items():
        with torch.inference_mode():
            top5 = cases[name]().topk(5).indices
        overlap = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(top5, reference)) / top5.numel()
        gflops = vit_gflop(shape) * batch / med(seconds)
        peak = peaks.get(formats.get(name, "float32"))
        share = f"{gflops / peak:.2f} of {formats.get(name, 'float32')}" if peak else "—"
        rows.append(f"| {shape} | {name} | {images_per_s(seconds, batch)} | {base / med(seconds):.2f}× | "
                    f"{gflops:.0f} | {share} | {overlap:.3f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, ViT-B only")
    args = parser.parse_args()
    from vit_gui.predict import resolve_device

    device = resolve_device(args.device)
    repeats = 5 if args.quick else args.repeats
    shapes = ["ViT-B/16"] if args.quick else list(SHAPES)
    gpu = f" GPU: {torch.cuda.get_device_name(device)}." if device.type == "cuda" else ""
    peak32 = matmul_gflops(torch.float32) if device.type == "cpu" else []
    peak16 = matmul_gflops(torch.bfloat16) if device.type == "cpu" else []
    peaks = {"float32": med(peak32), "bfloat16": med(peak16)} if peak32 else {}
    lines = [f"Commit {git_revision()}. Device: {device.type}.{gpu} Random weights, identical in both libraries; "
             "224×224 input. Each figure: median (min–max; n) of calls interleaved in a shuffled order each "
             "round, after two warm-up calls each.", ""]
    if peak32:
        lines += [f"Matmul peak of this machine, measured in this run (6,304 × 768 × 3,072, a ViT-B batch-32 "
                  f"MLP): float32 {spread(peak32, 1, 0)} GFLOP/s, bfloat16 {spread(peak16, 1, 0)} GFLOP/s.", ""]
    lines += [
             "## Batch-1 latency", "",
             "| model | task | vit-gui | transformers | ratio | target | |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for shape in shapes:
        lines += latency(shape, device, repeats)
    lines += ["", "## Batch-32 throughput, end to end from real JPEGs (decode + preprocess + model)", "",
              "| model | vit-gui | transformers (same preprocessing) | ratio | target | |",
              "| --- | --- | --- | --- | --- | --- |"]
    for shape in shapes:
        lines.append(throughput(shape, device, repeats))
    lines += ["", "## Batch-32 throughput per number format, model only (the same batch of real photos)", "",
              "Top-5 agreement is with vit-gui's float32 on these random weights, whose classes are near ties; "
              "agreement on real weights is in precision.md.", "",
              "| model | run | images/s | vs transformers float32 | GFLOP/s (float ops) | of the matmul peak | "
              "top-5 agreement |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for shape in shapes:
        lines += precisions(shape, device, repeats, peaks)
    lines += ["", "## Class-specific map vs rollout (one photo, preprocessing included)", "",
              "| model | top-k + rollout | class-specific map | extra cost |", "| --- | --- | --- | --- |"]
    for shape in shapes:
        lines.append(class_map_cost(shape, device, repeats))
    lines += ["", "## Recomputing a map when the user changes block / head / fusion / discard (no model run)", "",
              "| model | map | median | target < 20 ms |", "| --- | --- | --- | --- |"]
    for shape in shapes:
        lines += recompute_maps(shape, device, repeats)
    write_results(f"speed-{device.type}", f"Speed ({device.type})", lines)


if __name__ == "__main__":
    main()

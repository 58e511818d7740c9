"""vit-gui's model against ONNX Runtime and OpenVINO on the same CPU, in one run (issue #32).

The built-in DINOv2 ViT-S/14's own weights, exported once with torch.onnx (the final-norm
class token as output: what a probe reads), run by each engine on the same batch of real
photos (the stack's 8, prepared as the app prepares them), 2 threads each. Rounds are
interleaved (every engine once a round, in a shuffled order, each after one untimed call:
the threads of the engine before it may still be spinning), so a slower minute of the
machine falls on all of them; the figure is the median of the rounds, ms a photo, with its spread, and the ratio to
vit-gui's float32 measured in the same run. Agreement: the features' cosine to vit-gui's
float32, the lowest over the photos.

Engines: vit-gui float32 (maps not kept, and with the attentions kept, which the maps need),
bfloat16 and int8 (the app's own conversions); ONNX Runtime float32 and dynamic int8
(onnxruntime.quantization); OpenVINO float32 and bfloat16 (its inference precision hint),
each also in OpenVINO's throughput mode (one stream a thread, a photo a stream: how the
vit-gui engine runs a batch, so the peers get it too), and that with the graph compiled for
exactly one photo's shape (as the vit-gui engine's is: the strongest OpenVINO set-up we know).
Needs `pip install ".[peers]"` (onnx, onnxscript, onnxruntime, openvino: not dependencies of vit-gui).

`--vit-b16` measures a ViT-B/16 at 224 px instead (the issue's second model): its
architecture with seeded random weights, since no ViT-B/16 weights are at hand here (speed
does not depend on the values; the int8 scales are measured on it as on any model).

Usage: python benchmarks/peers.py [--rounds 5] [--batch 8] [--threads 2] [--vit-b16]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, median_interval, spread, write_results  # noqa: E402


class Features(torch.nn.Module):
    """The model's final-norm class token, the one output every engine returns."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model(pixels).features


def torch_engine(model, attentions: bool):
    dtype = model.patch_embed.proj.weight.dtype  # a bfloat16 model takes bfloat16 pixels, as Predictor gives it

    def run(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(torch.from_numpy(pixels).to(dtype), return_attention=attentions)
            return out.features.float().numpy()
    return run


def vit_b16_file(folder: Path) -> Path:
    """A ViT-B/16 classifier (1,000 classes) with seeded random weights, as a model file."""
    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(embed_dim=768, depth=12, num_heads=12, num_classes=1000)
    model.init_weights()
    return write_safetensors(folder / "vit-b16-random.safetensors", model.state_dict())


def onnx_file(model, pixels: np.ndarray, folder: Path) -> Path:
    path = folder / "model.onnx"
    torch.onnx.export(Features(model).eval(), (torch.from_numpy(pixels),), str(path), input_names=["pixels"],
                      output_names=["features"], dynamic_axes={"pixels": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    return path


def onnxruntime_engine(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda pixels: session.run(None, {"pixels": pixels})[0]


def onnxruntime_int8(path: Path, threads: int):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantised = path.with_name("model-int8.onnx")
    quantize_dynamic(str(path), str(quantised), weight_type=QuantType.QInt8)
    return onnxruntime_engine(quantised, threads)


def openvino_engine(model, threads: int, precision: str, streams: int = 1, one_photo: bool = False):
    """OpenVINO compiling `model`: an ONNX file's path, or a graph it converted itself. With
    `streams` > 1, as OpenVINO's throughput mode runs a batch: one photo a stream (one
    thread each), the streams side by side, as the vit-gui engine runs its batches; with
    `one_photo`, the graph compiled for exactly one photo's shape, as the vit-gui engine's is."""
    import openvino as ov

    core = ov.Core()
    graph = model if isinstance(model, ov.Model) else core.read_model(str(model))
    if one_photo:
        shape = graph.inputs[0].get_partial_shape()
        graph.reshape({graph.inputs[0]: ov.PartialShape([1, *shape[1:]])})
    compiled = core.compile_model(graph, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                 "INFERENCE_PRECISION_HINT": precision, "NUM_STREAMS": streams})
    if streams == 1:
        request = compiled.create_infer_request()
        return lambda pixels: np.asarray(request.infer({0: pixels})[compiled.output(0)])
    queue = ov.AsyncInferQueue(compiled, streams)

    def run(pixels: np.ndarray) -> np.ndarray:
        features = [None] * len(pixels)
        queue.set_callback(lambda request, index: features.__setitem__(index, np.array(request.get_output_tensor(0).data)))
        for index in range(len(pixels)):
            queue.start_async({0: pixels[index : index + 1]}, index)
        queue.wait_all()
        return np.concatenate(features)
    return run


def openvino_direct(model, pixels: np.ndarray, threads: int, precision: str):
    """OpenVINO's own conversion of the torch model (ov.convert_model), features only: the
    strongest use of OpenVINO a user could make of our model, no ONNX in between."""
    import openvino as ov

    with torch.no_grad():
        graph = ov.convert_model(Features(model).eval(), example_input=torch.from_numpy(pixels))
    return openvino_engine(graph, threads, precision)


def best_peers(times: dict[str, list[float]]) -> list[str]:
    """Per precision: our OpenVINO engine (attentions kept, and features only as the peers)
    against the fastest peer."""
    lines = ["", "| precision | vit-gui (OpenVINO engine, attentions kept) | the same, features only | "
             "fastest peer (features only) | peer's time / ours, attentions kept (95% interval) | "
             "features only (95% interval) |", "|---|---|---|---|---|---|"]
    for precision in ("float32", "bfloat16", "int8"):
        ours = f"vit-gui OpenVINO engine {precision}, attentions kept"
        plain = f"vit-gui OpenVINO engine {precision}, features only"
        peers = [name for name in times if not name.startswith("vit-gui") and f" {precision}" in name]
        if ours not in times or plain not in times or not peers:
            continue
        best = min(peers, key=lambda name: statistics.median(times[name]))
        mine, lean, theirs = (statistics.median(times[name]) for name in (ours, plain, best))
        lines.append(f"| {precision} | {1000 * mine:.1f} ms | {1000 * lean:.1f} ms | {best}: {1000 * theirs:.1f} ms "
                     f"| {paired_ratio(times[best], times[ours])} | {paired_ratio(times[best], times[plain])} |")
    return lines


def paired_ratio(theirs: list[float], ours: list[float]) -> str:
    """The median of the per-round ratios (both timed in the same round) with its 95%
    interval, and what it allows us to say."""
    ratios = [a / b for a, b in zip(theirs, ours)]
    low, high = median_interval(ratios)
    verdict = "ahead" if low > 1 else "behind" if high < 1 else "no difference shown"
    return f"{statistics.median(ratios):.2f}x ({low:.2f}–{high:.2f}): {verdict}"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vit-b16", action="store_true", help="a ViT-B/16 (random weights) instead of the built-in")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime
    import openvino
    from PIL import Image

    from vit_gui.explain.planted import real_photos
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor

    photos = [Image.fromarray(p) for p in real_photos().values()][:args.batch]
    work = Path(tempfile.mkdtemp(prefix="peers-"))
    model_path = vit_b16_file(work) if args.vit_b16 else default_model_path()
    described = "a ViT-B/16 (seeded random weights)" if args.vit_b16 else "the built-in DINOv2 ViT-S/14"
    base = Predictor.from_file(model_path)
    pixels = base.prepare(photos)[0].float().numpy()
    path = onnx_file(base.model, pixels, work)
    engine_models = {name: Predictor.from_file(model_path, precision=name, engine="openvino").model
                     for name in ("float32", "bfloat16", "int8")}
    engines = {
        "vit-gui float32": torch_engine(base.model, False),
        "vit-gui float32, attentions kept": torch_engine(base.model, True),
        "vit-gui bfloat16": torch_engine(Predictor.from_file(model_path, precision="bfloat16").model, False),
        "vit-gui int8": torch_engine(Predictor.from_file(model_path, precision="int8").model, False),
        **{f"vit-gui OpenVINO engine {name}{', attentions kept' if kept else ', features only'}":
           torch_engine(engine_models[name], kept) for name in ("float32", "bfloat16", "int8") for kept in (True, False)},
        f"ONNX Runtime {onnxruntime.__version__} float32": onnxruntime_engine(path, args.threads),
        f"ONNX Runtime {onnxruntime.__version__} int8 (dynamic)": onnxruntime_int8(path, args.threads),
        f"OpenVINO {openvino.__version__.split('-')[0]} float32": openvino_engine(path, args.threads, "f32"),
        f"OpenVINO {openvino.__version__.split('-')[0]} bfloat16": openvino_engine(path, args.threads, "bf16"),
        f"OpenVINO {openvino.__version__.split('-')[0]} float32, {args.threads} streams":
            openvino_engine(path, args.threads, "f32", args.threads),
        f"OpenVINO {openvino.__version__.split('-')[0]} bfloat16, {args.threads} streams":
            openvino_engine(path, args.threads, "bf16", args.threads),
        f"OpenVINO {openvino.__version__.split('-')[0]} float32, {args.threads} streams, compiled for one photo":
            openvino_engine(path, args.threads, "f32", args.threads, one_photo=True),
        f"OpenVINO {openvino.__version__.split('-')[0]} bfloat16, {args.threads} streams, compiled for one photo":
            openvino_engine(path, args.threads, "bf16", args.threads, one_photo=True),
        f"OpenVINO {openvino.__version__.split('-')[0]} float32, converted from torch":
            openvino_direct(base.model, pixels, args.threads, "f32"),
        f"OpenVINO {openvino.__version__.split('-')[0]} bfloat16, converted from torch":
            openvino_direct(base.model, pixels, args.threads, "bf16"),
    }
    reference = engines["vit-gui float32"](pixels)
    agreement = {name: cosine(run(pixels), reference) for name, run in engines.items()}  # also warms each up
    times: dict[str, list[float]] = {name: [] for name in engines}
    order = list(engines)
    for round_ in range(args.rounds):
        random.Random(round_).shuffle(order)  # no engine always follows the same one
        for name in order:
            run = engines[name]
            run(pixels)  # untimed: another engine's threads still spinning slow the first call (measured: up to 1.6x)
            started = time.perf_counter()
            run(pixels)
            times[name].append((time.perf_counter() - started) / len(photos))
    baseline = statistics.median(times["vit-gui float32"])
    lines = [f"Run on revision {git_revision()}: `benchmarks/peers.py --rounds {args.rounds} --batch {args.batch} "
             f"--threads {args.threads}{' --vit-b16' if args.vit_b16 else ''}`; {described} at {pixels.shape[-1]} "
             f"px, a batch of "
             f"{len(photos)} real photos, {args.rounds} interleaved rounds.", "",
             "| engine | ms a photo (median, spread) | vs vit-gui float32 | features' cosine (lowest) |",
             "|---|---|---|---|"]
    for name, samples in times.items():
        median = statistics.median(samples)
        lines.append(f"| {name} | {spread(samples)} | {baseline / median:.2f}x | {agreement[name]:.5f} |")
        print(lines[-1], flush=True)
    comparison = best_peers(times)
    print("\n".join(comparison), flush=True)
    lines += comparison
    lines += ["", "A ratio above 1 is faster than vit-gui's float32. The maps need the attentions kept "
              "(vit-gui float32, attentions kept); the peers' figures keep none. The OpenVINO engine is "
              "what the app runs (model/engines.py: its own graphs, cached; int8 with the maps' rules)."]
    write_results("peers-vit-b16" if args.vit_b16 else "peers",
                  f"vit-gui against ONNX Runtime and OpenVINO (issue #32): {described}", lines)


if __name__ == "__main__":
    main()

"""OpenVINO behind the Predictor: the same ViT, compiled for the CPU (issue #32).

Why: measured in one run (benchmarks/peers.py), OpenVINO's CPU kernels run this ViT's
linear layers faster than torch's, and its dynamic int8 (weights int8, activations
quantised token by token as they come) beats torch's quantised layers and ONNX Runtime's.
What runs is our model, converted by OpenVINO's PyTorch frontend, not a second copy of it:
the same weights, the same int8 rules that keep the maps (model/int8.py: SmoothQuant folded
in, query/key and the first MLP layer in float32), and the attentions every map needs as
outputs of the graph.

Two graphs per model: one that keeps every block's attention (what the app asks for) and
one that does not (OpenVINO fuses the attention then). Each is converted once and cached as
OpenVINO IR (model/engine_cache.py), under the SHA-256 of the weights it was made from, the
input size, the format and the versions. A batch runs a photo a stream, the streams side
by side (OpenVINO's throughput mode), each compiled for one photo, each photo's attentions
written straight into the array handed back (memory reused from batch to batch,
model/buffer_pool.py). Whatever the graph does not cover
(token drop, another input size) runs on the torch model, which also serves gradient maps
and teaching.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vit_gui.model import engine_cache
from vit_gui.model.buffer_pool import ATTENTIONS
from vit_gui.model.vit import ViTOutput

FORMAT = 5  # bump when the converted graph changes for the same weights
INT8_GROUP = 128  # activations quantised per token in groups of this many channels (measured: 32 and 64 were slower, no closer)
FORMATS = ("float32", "bfloat16", "int8")
_CORE: list = []  # the process's one ov.Core, made on first use (shared_core)
_CORE_LOCK = threading.Lock()


def shared_core():
    """The one ov.Core every graph is read and compiled with. Why one: each Core makes its own
    CPU plugin, which sets an alternate signal stack of its own on the thread that makes it
    and, when released, puts back the one it found. Two engines released in the order they
    were made (two models side by side, closed first to last) left the thread's alternate
    stack pointing at freed memory, and the next Ctrl+C ended the process with a
    segmentation fault (tests/test_openvino_engine.py shows it). OpenVINO's documentation of
    ov::Core also recommends a single Core per application (plugins are not shared between
    Cores). The cost: the plugin keeps its idle stream executors (threads) after the models
    go, one set per configuration used, reused by the next model of that configuration."""
    import openvino as ov

    with _CORE_LOCK:
        if not _CORE:
            _CORE.append(ov.Core())
        return _CORE[0]


def inference_precision(precision: str) -> str:
    """OpenVINO's precision hint: int8's layers that stay unquantised (attention, norms, the
    kept float32 layers) run in bfloat16 where the CPU has it natively (measured: 56.7 ->
    43.7 ms a photo on AVX-512 BF16, benchmarks/results/peers.md), else float32."""
    from vit_gui.model.precision import cpu_has_native_bf16

    if precision == "bfloat16" or (precision == "int8" and cpu_has_native_bf16()):
        return "bf16"
    return "f32"


def available() -> str | None:
    """None when OpenVINO can run here, else why not (in words for the model panel)."""
    try:
        import openvino  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a broken install is as good as none
        return f"OpenVINO is not installed ({exc.__class__.__name__}: {exc})"
    return None


class Int8Weights(nn.Module):
    """A linear layer stored as int8 weights (one scale per output channel), written so that
    OpenVINO recognises the pattern (int8 constant, convert, multiply) and runs it with int8
    weights and dynamically quantised activations."""

    def __init__(self, layer: nn.Linear):
        super().__init__()
        weight = layer.weight.detach().float()
        scale = weight.abs().amax(1).clamp(min=1e-12) / 127
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale[:, None].clone())
        self.bias = layer.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_int8.float() * self.scale, self.bias)


def int8_model(model: nn.Module, calibration: torch.Tensor) -> nn.Module:
    """torch's int8 recipe (model/int8.py: smoothed on `calibration`, the same layers kept
    float32) with each quantised layer as int8 weights for OpenVINO."""
    from vit_gui.model.int8 import quantised

    return quantised(model, calibration.float(), Int8Weights)


class GraphForward(nn.Module):
    """What the graph computes: logits (or features again for a backbone), the class token's
    features, the patch mean and, when `attentions`, every block's, stacked block first
    (blocks, B, heads, N, N): each block's softmax then writes straight into its slice of the
    output, and a one-photo run's output is that photo's (blocks, heads, N, N) as it lies."""

    def __init__(self, model: nn.Module, attentions: bool):
        super().__init__()
        self.model, self.attentions = model, attentions

    def forward(self, pixels: torch.Tensor):
        with torch.enable_grad():  # the model then returns each block's attention as made, not
            out = self.model(pixels, return_attention=self.attentions)  # written into one buffer (a slow scatter in the graph)
        answer = out.features if out.logits is None else out.logits
        stack = (torch.stack(out.attentions, dim=0),) if self.attentions else ()
        return (answer, out.features, out.patch_mean) + stack


def weights_digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().contiguous().cpu()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy())  # the bytes in place, not a copy of them
    return digest.hexdigest()


def cache_key(weights: str, size: tuple[int, int], precision: str, attentions: bool) -> str:
    """What a converted graph depends on: `weights` (weights_digest), the input size, the
    format (and the attentions' type it implies on this CPU), whether it keeps the
    attentions, and the versions of the code that made it."""
    import openvino

    from vit_gui import __version__

    parts = [weights, f"{size[0]}x{size[1]}", precision, inference_precision(precision), f"attentions={attentions}",
             f"format={FORMAT}", f"openvino={openvino.__version__}", f"vit-gui={__version__}"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def converted_graph(model: nn.Module, weights: str, size: tuple[int, int], precision: str, attentions: bool,
                    root: Path):
    """The OpenVINO model for `model` (whose weights_digest is `weights`): read from the cache
    when its digest matches, else converted (by tracing) and cached (model/engine_cache.py)."""
    import openvino as ov

    key = cache_key(weights, size, precision, attentions)
    cached = engine_cache.read(root, key, lambda folder: shared_core().read_model(str(folder / "model.xml")))
    if cached is not None:
        return cached
    example = torch.zeros(1, 3, *size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the shapes it warns of are fixed by the cache key
        # traced here without torch's check of the trace, which imports sympy (not in the frozen app)
        traced = torch.jit.trace(GraphForward(model, attentions).eval(), example, check_trace=False)
        # for exactly one photo (every request runs one): OpenVINO plans its memory once and writes the
        # attentions into the caller's array as they are made (measured, ViT-S float32 with the attentions:
        # 62.6 ms a photo against 65.8 for a graph of any batch size; features only 61.5 against 62.2)
        graph = ov.convert_model(traced, example_input=example, input=[ov.PartialShape([1, 3, size[0], size[1]])])
    if inference_precision(precision) == "bf16" and attentions:  # made in bfloat16: handed over so, half the bytes
        from openvino.preprocess import PrePostProcessor

        steps = PrePostProcessor(graph)
        steps.output(3).tensor().set_element_type(ov.Type.bf16)
        graph = steps.build()
    engine_cache.write(root, key, {"precision": precision, "size": list(size)},
                       lambda staging: ov.save_model(graph, str(staging / "model.xml"), compress_to_fp16=False))
    return graph


class OpenVinoViT:
    """A ViT run by OpenVINO: called like the torch model (pixels, return_attention, keep)
    and returning its ViTOutput; anything else (grid_for, patch_size, blocks…) is the torch
    model's. `torch_model` is the float32 model: gradients, token drop, other sizes."""

    def __init__(self, model: nn.Module, precision: str, size: tuple[int, int],
                 calibration: torch.Tensor | None = None, threads: int | None = None, cache: Path | None = None):
        if precision not in FORMATS:
            raise ValueError(f"OpenVINO runs float32, bfloat16 or int8, not {precision}")
        self.torch_model = model
        self.precision, self.size = precision, tuple(size)
        self._graph_model = int8_model(model, calibration) if precision == "int8" else model
        self._weights = weights_digest(self._graph_model)  # once: both graphs are keyed by it
        self._threads = threads or torch.get_num_threads()
        self._cache = cache or engine_cache.cache_root()
        self._request_sets: dict[bool, list] = {}
        self._scratch: dict[str, object] = {}  # the output the requests point at between calls
        self._lock = threading.Lock()
        self._requests(True)  # converting is the slow part: done while the model loads, not at the first photo

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "torch_model":
            raise AttributeError(name)
        return getattr(self.torch_model, name)

    def _requests(self, attentions: bool) -> list:
        """The graph's infer requests, compiled in OpenVINO's throughput mode: a photo a
        stream, the streams side by side, as many as it chooses for these threads (measured:
        faster than a whole batch on one stream, for OpenVINO fed an ONNX export too,
        benchmarks/results/peers.md; and a single photo on one stream of one thread took 146
        ms against 129 on one stream of two in float32, 79 against 89 in bfloat16, 60 against
        61 in int8, so a second, latency-mode model, with its own copy of the weights, was not
        worth its memory)."""
        if attentions not in self._request_sets:
            graph = converted_graph(self._graph_model, self._weights, self.size, self.precision, attentions,
                                    self._cache)
            config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_NUM_THREADS": self._threads,
                      "INFERENCE_PRECISION_HINT": inference_precision(self.precision),
                      "DYNAMIC_QUANTIZATION_GROUP_SIZE": INT8_GROUP if self.precision == "int8" else 0}
            compiled = shared_core().compile_model(graph, "CPU", config)
            count = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
            self._request_sets[attentions] = [compiled.create_infer_request() for _ in range(count)]
        return self._request_sets[attentions]

    def __call__(self, pixels: torch.Tensor, return_attention: bool = False, keep: torch.Tensor | None = None) -> ViTOutput:
        if keep is not None or tuple(pixels.shape[-2:]) != self.size or torch.is_grad_enabled() or not len(pixels):
            return self.torch_model(pixels.float(), return_attention=return_attention, keep=keep)
        pixels = np.ascontiguousarray(pixels.detach().float().cpu().numpy())
        with self._lock:
            answer, features, patch_mean, stack = self._side_by_side(self._requests(return_attention),
                                                                     pixels, return_attention)
        logits = None if self.torch_model.head is None else answer
        return ViTOutput(logits, tuple(stack.unbind(1)) if stack is not None else None, features, patch_mean, stack)

    def _side_by_side(self, requests: list, pixels: np.ndarray, attentions: bool):
        """Each photo on a request of its own, the requests running side by side; with
        `attentions`, each photo's written by the graph straight into its own slice of one
        (B, blocks, heads, N, N) array: no stacking and no copy afterwards (measured: copying
        a batch's 150 MB cost more than the attentions' share of the graph)."""
        import openvino as ov

        port = requests[0].model_outputs[3] if attentions else None
        if attentions:
            blocks, _, heads, tokens, _ = port.get_shape()  # one photo's: (blocks, 1, heads, N, N)
            in_bf16 = port.get_element_type() == ov.Type.bf16  # held as float16's bits: numpy has no bfloat16
            stack = ATTENTIONS.empty((len(pixels), blocks, heads, tokens, tokens), np.float16 if in_bf16 else np.float32)
        small: list[list] = [[None] * len(pixels) for _ in range(3)]
        try:
            for start in range(0, len(pixels), len(requests)):
                running = list(zip(range(start, min(start + len(requests), len(pixels))), requests))
                for index, request in running:
                    if attentions:
                        mine = stack[index].reshape(blocks, 1, heads, tokens, tokens)  # the graph's one-photo layout
                        request.set_output_tensor(3, ov.Tensor(mine, list(mine.shape), port.get_element_type()))
                    request.start_async({0: pixels[index : index + 1]}, share_inputs=True)
                for index, request in running:
                    request.wait()  # raises what went wrong in this photo's run
                    for i, kept in enumerate(small):
                        kept[index] = np.array(request.get_output_tensor(i).data)
        finally:  # every request finished and holding none of our array: it is the caller's, and may be freed
            for request in requests:
                try:
                    request.wait()
                except Exception:  # noqa: BLE001 - reported above, or a failure of an earlier call's
                    pass
                if attentions:
                    request.set_output_tensor(3, self._empty_output(port))
        small = [torch.from_numpy(np.concatenate(rows)) for rows in small]
        if not attentions:
            return (*small, None)
        stack = torch.from_numpy(stack)
        return (*small, stack.view(torch.bfloat16) if in_bf16 else stack)

    def _empty_output(self, port):
        """What every request's attention output points at between calls, so that none holds
        a caller's array: one photo's worth, shared, never written (no request runs while
        pointing at it), so its pages are never touched."""
        import openvino as ov

        kind = str(port.get_element_type())
        if kind not in self._scratch:
            self._scratch[kind] = ov.Tensor(port.get_element_type(), port.get_shape())
        return self._scratch[kind]

    def eval(self):
        return self

    def requires_grad_(self, _flag: bool = False):
        return self

    def to(self, device, *_args, **_kwargs):
        if torch.device(device).type != "cpu":
            raise ValueError("the OpenVINO engine runs on the CPU")
        return self

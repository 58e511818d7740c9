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
OpenVINO IR in the user's cache folder, under the SHA-256 of the weights it was made from,
the input size, the format and the versions; the digest is written beside the graph and
checked before a cache is read, and a cache is written to a temporary folder and renamed,
so a kill leaves no half cache. Whatever the graph does not cover (token drop, another
input size) runs on the torch model, which also serves gradient maps and teaching.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vit_gui.model.vit import ViTOutput

FORMAT = 3  # bump when the converted graph changes for the same weights
INT8_GROUP = 128  # activations quantised per token in groups of this many channels (measured: 32 and 64 were slower, no closer)
HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}


def available() -> str | None:
    """None when OpenVINO can run here, else why not (in words for the model panel)."""
    try:
        import openvino  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a broken install is as good as none
        return f"OpenVINO is not installed ({exc.__class__.__name__}: {exc})"
    return None


def cache_root() -> Path:
    """Converted graphs: VIT_GUI_ENGINE_CACHE, else the per-user data folder's `openvino`."""
    from vit_gui.resources import user_data_dir

    override = os.environ.get("VIT_GUI_ENGINE_CACHE")
    return Path(override) if override else user_data_dir() / "openvino"


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
    features, the patch mean and, when `attentions`, every block's (B, blocks, heads, N, N)."""

    def __init__(self, model: nn.Module, attentions: bool):
        super().__init__()
        self.model, self.attentions = model, attentions

    def forward(self, pixels: torch.Tensor):
        with torch.enable_grad():  # the model then returns each block's attention as made, not
            out = self.model(pixels, return_attention=self.attentions)  # written into one buffer (a slow scatter in the graph)
        answer = out.features if out.logits is None else out.logits
        stack = (torch.stack(out.attentions, dim=1),) if self.attentions else ()
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
    format, whether it keeps the attentions, and the versions of the code that made it."""
    import openvino

    from vit_gui import __version__

    parts = [weights, f"{size[0]}x{size[1]}", precision, f"attentions={attentions}",
             f"format={FORMAT}", f"openvino={openvino.__version__}", f"vit-gui={__version__}"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def converted_graph(model: nn.Module, weights: str, size: tuple[int, int], precision: str, attentions: bool,
                    root: Path):
    """The OpenVINO model for `model` (whose weights_digest is `weights`): read from the cache
    when its digest matches, else converted (by tracing) and cached; a cache that cannot be
    written is only a lost speed-up."""
    import openvino as ov

    key = cache_key(weights, size, precision, attentions)
    folder = root / key[:32]
    try:
        if json.loads((folder / "digest.json").read_text())["key"] == key:
            return ov.Core().read_model(str(folder / "model.xml"))
    except (OSError, ValueError, KeyError, RuntimeError):
        pass
    example = torch.zeros(1, 3, *size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the shapes it warns of are fixed by the cache key
        # traced here without torch's check of the trace, which imports sympy (not in the frozen app)
        traced = torch.jit.trace(GraphForward(model, attentions).eval(), example, check_trace=False)
        graph = ov.convert_model(traced, example_input=example, input=[ov.PartialShape([-1, 3, size[0], size[1]])])
    if precision == "bfloat16" and attentions:  # hand the attentions over in bfloat16: half the bytes, no reorder
        from openvino.preprocess import PrePostProcessor

        steps = PrePostProcessor(graph)
        steps.output(3).tensor().set_element_type(ov.Type.bf16)
        graph = steps.build()
    staging = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=root))
        ov.save_model(graph, str(staging / "model.xml"), compress_to_fp16=False)
        (staging / "digest.json").write_text(json.dumps({"key": key, "precision": precision, "size": list(size)}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    except OSError:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return graph


class OpenVinoViT:
    """A ViT run by OpenVINO: called like the torch model (pixels, return_attention, keep)
    and returning its ViTOutput; anything else (grid_for, patch_size, blocks…) is the torch
    model's. `torch_model` is the float32 model: gradients, token drop, other sizes."""

    def __init__(self, model: nn.Module, precision: str, size: tuple[int, int],
                 calibration: torch.Tensor | None = None, threads: int | None = None, cache: Path | None = None):
        if precision not in HINTS:
            raise ValueError(f"OpenVINO runs float32, bfloat16 or int8, not {precision}")
        self.torch_model = model
        self.precision, self.size = precision, tuple(size)
        self._graph_model = int8_model(model, calibration) if precision == "int8" else model
        self._weights = weights_digest(self._graph_model)  # once: both graphs are keyed by it
        self._threads = threads or torch.get_num_threads()
        self._cache = cache or cache_root()
        self._compiled: dict[bool, object] = {}
        self._lock = threading.Lock()
        self._compile(True)  # converting is the slow part: done while the model loads, not at the first photo

    def __getattr__(self, name: str):
        if name.startswith("_") or name == "torch_model":
            raise AttributeError(name)
        return getattr(self.torch_model, name)

    def _compile(self, attentions: bool):
        if attentions not in self._compiled:
            import openvino as ov

            graph = converted_graph(self._graph_model, self._weights, self.size, self.precision, attentions,
                                    self._cache)
            config = {"INFERENCE_NUM_THREADS": self._threads, "INFERENCE_PRECISION_HINT": HINTS[self.precision],
                      "DYNAMIC_QUANTIZATION_GROUP_SIZE": INT8_GROUP if self.precision == "int8" else 0}
            compiled = ov.Core().compile_model(graph, "CPU", config)
            self._compiled[attentions] = compiled.create_infer_request()
        return self._compiled[attentions]

    def __call__(self, pixels: torch.Tensor, return_attention: bool = False, keep: torch.Tensor | None = None) -> ViTOutput:
        if keep is not None or tuple(pixels.shape[-2:]) != self.size or torch.is_grad_enabled():
            return self.torch_model(pixels.float(), return_attention=return_attention, keep=keep)
        with self._lock:
            request = self._compile(return_attention)
            outputs = request.infer({0: np.ascontiguousarray(pixels.detach().float().cpu().numpy())},
                                    share_inputs=True, share_outputs=True)  # copied once, below
            answer, features, patch_mean, *rest = (outputs[i] for i in range(len(outputs)))
            tensors = [torch.from_numpy(np.array(a)) for a in (answer, features, patch_mean)]
            stack = None
            if rest:
                raw = np.array(rest[0])  # copied: the request's buffers are reused by the next call
                stack = torch.from_numpy(raw).view(torch.bfloat16) if raw.dtype == np.float16 else torch.from_numpy(raw)
        logits = None if self.torch_model.head is None else tensors[0]
        return ViTOutput(logits, tuple(stack.unbind(1)) if stack is not None else None, tensors[1], tensors[2], stack)

    def eval(self):
        return self

    def requires_grad_(self, _flag: bool = False):
        return self

    def to(self, device, *_args, **_kwargs):
        if torch.device(device).type != "cpu":
            raise ValueError("the OpenVINO engine runs on the CPU")
        return self

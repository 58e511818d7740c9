"""Which number format a model runs in, and why.

`float32` is the reference. `bfloat16` runs the weights and activations in bfloat16: on a
CPU with AMX its matmuls are several times faster; with AVX-512 BF16 alone they can be
slower (this machine: 159 against 289 GFLOP/s). `float16` is for CUDA. `int8` quantises the linear layers' weights, activations
on the fly (PyTorch's dynamic quantisation). `auto` tries the format this device runs
natively and keeps it only if the model's answer on a test batch agrees with float32
(cosine similarity of the features at least AGREEMENT) and it is measurably faster there;
otherwise float32, and it says why. Maps are computed in float64 from whatever format the attentions come in.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

PRECISIONS = ("auto", "float32", "bfloat16", "float16", "int8")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AGREEMENT = 0.999  # cosine similarity to float32 that `auto` demands


@dataclass(frozen=True)
class Precision:
    name: str  # the format that runs: float32, bfloat16, float16 or int8
    reason: str  # one sentence for the model panel
    agreement: float | None = None  # cosine similarity to float32 on the check image, where measured

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES.get(self.name, torch.float32)  # int8 layers take and give float32


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX (Linux reports them in /proc/cpuinfo; elsewhere: assume not)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def candidate(requested: str, device: torch.device) -> tuple[str, str]:
    """(format to try, why) for a requested precision on a device."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        if requested == "float16" and device.type == "cpu":
            raise ValueError("float16 is for CUDA GPUs; on a CPU use bfloat16 (where it has native support) or int8")
        if requested == "int8" and device.type != "cpu":
            raise ValueError("int8 (dynamic quantisation) runs on the CPU only")
        return requested, "chosen by you"
    if device.type == "cuda":
        return "float16", "auto: the GPU runs float16 natively"
    if cpu_has_native_bf16():
        return "bfloat16", "auto: this CPU has native bfloat16 instructions"
    return "float32", "auto: this CPU has no native bfloat16, so float32 is fastest"


def convert(model: nn.Module, name: str) -> nn.Module:
    """The model in format `name` (a new module for int8; cast in place otherwise)."""
    if name == "int8":
        return quantized(model)
    return model.to(DTYPES[name])


def quantized(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantisation of every linear layer. Our `Linear` is not an `nn.Linear`
    (it skips torch's initialisation), which is why quantize_dynamic used to quantise
    nothing: each is swapped for an nn.Linear sharing its tensors first."""
    from vit_gui.model.vit import Linear

    model = copy.deepcopy(model).float()
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Linear):
                plain = nn.Linear(child.weight.shape[1], child.weight.shape[0], bias=child.bias is not None,
                                  device="meta")
                plain.weight, plain.bias = child.weight, child.bias
                setattr(parent, child_name, plain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch marks its quantised tensors as deprecated; they still run
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def timed_features(model: nn.Module, pixels: torch.Tensor, repeats: int = 3) -> tuple[torch.Tensor, float]:
    """(features, seconds): the fastest of `repeats` runs after one warm-up (the first run
    pays for kernel set-up; the fastest is the least disturbed by other programs, which a
    single timing on a busy machine is not: it once made `auto` pick a slower format)."""
    import time

    times = []
    with torch.inference_mode():
        features = model(pixels).features.float()
        for _ in range(repeats):
            start = time.perf_counter()
            model(pixels)
            times.append(time.perf_counter() - start)
    return features, min(times)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(a @ b / (a.norm() * b.norm()).clamp(min=1e-30))

"""Which number format a model runs in, and why.

`float32` is the reference. `bfloat16` runs the weights and activations in bfloat16: on a
CPU with AMX its matmuls are several times faster; with AVX-512 BF16 alone they can be
slower (this machine: 159 against 289 GFLOP/s). `float16` is for CUDA. `int8` quantises the
blocks' linear layers so that the maps stay (model/int8.py). `auto` tries what the device
runs fast (CUDA: float16; a CPU: bfloat16 where it has native instructions, then int8) and
keeps the first that agrees with float32 on test photos (features to AGREEMENT, rollout maps
within MAP_AGREEMENT) and is measurably faster; otherwise float32, and it says why. Maps are
computed in float64 from whatever format the attentions come in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

PRECISIONS = ("auto", "float32", "bfloat16", "float16", "int8")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
AGREEMENT = {"bfloat16": 0.999, "float16": 0.999, "int8": 0.995}  # feature cosine to float32 `auto` demands
MAP_AGREEMENT = 0.05  # largest difference of a rollout map (in [0, 1]) from float32's that `auto` accepts
FASTER = 0.9  # `auto` keeps a format only when it needs at most this share of float32's time


@dataclass(frozen=True)
class Precision:
    name: str  # the format that runs: float32, bfloat16, float16 or int8
    reason: str  # one sentence for the model panel
    agreement: float | None = None  # cosine similarity to float32 on the check image, where measured
    engine: str = "torch"  # or "openvino" (model/engines.py)

    @property
    def dtype(self) -> torch.dtype:
        """What the pixels are handed over in: OpenVINO and int8 layers take float32."""
        return torch.float32 if self.engine == "openvino" else DTYPES.get(self.name, torch.float32)


def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX (Linux reports them in /proc/cpuinfo; elsewhere: assume not)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def candidates(requested: str, device: torch.device) -> list[tuple[str, str]]:
    """[(format to try, why)] for a requested precision on a device, in the order to try."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        if requested == "float16" and device.type == "cpu":
            raise ValueError("float16 is for CUDA GPUs; on a CPU use bfloat16 (where it has native support) or int8")
        if requested == "int8" and device.type != "cpu":
            raise ValueError("int8 (dynamic quantisation) runs on the CPU only")
        return [(requested, "chosen by you")]
    if device.type == "cuda":
        return [("float16", "auto: the GPU runs float16 natively")]
    tries = [("bfloat16", "auto: this CPU has native bfloat16 instructions")] if cpu_has_native_bf16() else []
    return tries + [("int8", "auto: int8 with the attention maps kept")]


def convert(model: nn.Module, name: str, calibration: torch.Tensor | None = None) -> nn.Module:
    """The model in format `name`: a new module for int8 (smoothed on `calibration`),
    cast in place otherwise."""
    if name == "int8":
        from vit_gui.model.int8 import quantised

        return quantised(model, calibration)
    return model.to(DTYPES[name])


class FloatReference(NamedTuple):
    """float32's side of every format's trial, measured once: the test batch and its time,
    and the sample photos' features and rollout maps."""

    check: torch.Tensor
    photos: torch.Tensor
    seconds: float
    features: torch.Tensor
    maps: list


@dataclass(frozen=True)
class Trial:
    """How a converted model compared with float32 on test inputs."""

    name: str
    agreement: float  # lowest feature cosine over the test photos
    map_difference: float  # largest rollout map difference over them
    seconds: float  # a test batch, converted
    reference_seconds: float  # the same batch in float32

    def agrees(self) -> bool:
        """Within the bars `auto` holds this format to: features' cosine and rollout maps."""
        return self.agreement >= AGREEMENT[self.name] and self.map_difference <= MAP_AGREEMENT

    def refusal(self) -> str | None:
        """Why `auto` does not keep this format, or None."""
        if not self.agrees():
            return (f"{self.name} agreed only to a cosine of {self.agreement:.4f} (maps within "
                    f"{self.map_difference:.3f}) with float32 on test photos")
        if self.seconds > FASTER * self.reference_seconds:
            return (f"{self.name} was not faster here ({1000 * self.seconds:.0f} ms against "
                    f"{1000 * self.reference_seconds:.0f} ms for float32 on a test batch)")
        return None

    def words(self) -> str:
        return (f"it agrees with float32 to a cosine of {self.agreement:.5f}, maps within {self.map_difference:.3f}, "
                f"on test photos, and runs a test batch in {1000 * self.seconds:.0f} ms against "
                f"{1000 * self.reference_seconds:.0f} ms")


def timed_features(model: nn.Module, pixels: torch.Tensor, repeats: int = 3,
                   attentions: bool = False) -> tuple[torch.Tensor, float]:
    """(features, seconds): the fastest of `repeats` runs after one warm-up (the first run
    pays for kernel set-up; the fastest is the least disturbed by other programs, which a
    single timing on a busy machine is not: it once made `auto` pick a slower format)."""
    import time

    times = []
    with torch.inference_mode():
        features = model(pixels, return_attention=attentions).features.float()
        for _ in range(repeats):
            start = time.perf_counter()
            model(pixels, return_attention=attentions)
            times.append(time.perf_counter() - start)
    return features, min(times)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """The lowest cosine similarity of one row of `a` to the same row of `b`."""
    a, b = a.double().flatten(1), b.double().flatten(1)
    return float(torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-30).min())

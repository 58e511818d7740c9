"""int8 that keeps the maps.

Dynamic int8 (weights quantised once, activations as they come) runs a ViT's linear layers
several times faster on a CPU without AMX. Quantised naively, the built-in DINOv2's features
drifted to a cosine of 0.96 and its rollout maps moved by up to 0.3. Measured layer by layer
(benchmarks/int8.py), four things caused it, and four rules fix it:

- The query and key projections make the attention maps the app draws; quantised, they
  moved rollout by up to 0.32 on their own. They stay float32 (the value projection, split
  from them, is quantised).
- A few input channels carry DINOv2's outlier activations (131 against a typical 6 before
  block 0's MLP): one range for the whole tensor left the other channels a few levels.
  SmoothQuant (Xiao et al. 2023) moves that range into the weights, s = max|x|^a /
  max|w|^(1-a) per channel, folded where it costs nothing: into the LayerNorm before the
  MLP's first layer and before the value projection (and the float query/key weights beside
  it), and into the value projection's output for the attention's output projection (attention
  mixes tokens, not channels, so the scale passes through). The MLP's second layer follows
  a GELU, which no scale passes; it is quantised as it is.
- One large weight row set the scale of a whole matrix: weights are quantised per output
  channel.
- Over a whole batch, one bright photo coarsened every other photo's numbers and made a
  photo's answer depend on its batch: activations are quantised photo by photo.
- Quantised alone, the first block's first MLP layer cost the features more than any other
  (its error passes through every later block); it stays float32, 3% of the multiply-adds.

The smoothing scales are measured on the sample photos the app ships. Gradients cannot pass
int8 layers, so maps that need them run on the float32 model.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

ALPHA = 0.5  # SmoothQuant's migration strength: half the range to the weights
FLOAT_LAYERS = ("blocks.0.mlp.fc1",)  # measured: the layer whose quantisation alone hurts most


class SplitQKV(nn.Module):
    """The fused query/key/value projection as two: query and key in float32, the value
    projection separate so that it can be quantised. Drop-in: returns the fused output."""

    def __init__(self, fused: nn.Module):
        super().__init__()
        width = fused.weight.shape[1]
        bias = fused.bias is not None
        self.qk = nn.Linear(width, 2 * width, bias=bias)
        self.v = nn.Linear(width, width, bias=bias)
        with torch.no_grad():
            self.qk.weight.copy_(fused.weight[: 2 * width])
            self.v.weight.copy_(fused.weight[2 * width:])
            if bias:
                self.qk.bias.copy_(fused.bias[: 2 * width])
                self.v.bias.copy_(fused.bias[2 * width:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.qk(x), self.v(x)], dim=-1)


class PerPhotoInt8(nn.Module):
    """A dynamic int8 linear layer (one weight scale per output channel) that quantises each
    photo's activations with their own range; per photo it costs no time."""

    def __init__(self, layer: nn.Linear):
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import per_channel_dynamic_qconfig

        super().__init__()
        layer.qconfig = per_channel_dynamic_qconfig
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch marks its quantised tensors as deprecated; they still run
            self.int8 = DynamicLinear.from_float(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3 or len(x) == 1:
            return self.int8(x)
        return torch.cat([self.int8(photo) for photo in x.split(1)])


def float_copy(model: nn.Module, split: bool = True) -> nn.Module:
    """A float32 copy with plain nn.Linear layers (our `Linear` skips torch's initialisation,
    so quantisation tools do not recognise it) and each attention's projection split."""
    from vit_gui.model.vit import Attention, Linear

    model = copy.deepcopy(model).float()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Linear):
                plain = nn.Linear(child.weight.shape[1], child.weight.shape[0], bias=child.bias is not None,
                                  device="meta")
                plain.weight, plain.bias = child.weight, child.bias
                setattr(parent, name, plain)
    for module in model.modules():
        if split and isinstance(module, Attention):
            module.qkv = SplitQKV(module.qkv)
    return model.eval().requires_grad_(False)


def quantisable(model: nn.Module) -> dict[str, nn.Linear]:
    """The blocks' linear layers, except the query/key projections; the classifier head
    (small, and it decides the top classes) stays float32."""
    return {name: module for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and name.startswith("blocks.") and not name.endswith(".qk")}


def input_ranges(model: nn.Module, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The largest |input| of each channel of each quantisable layer, over `pixels`."""
    ranges: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(module, inputs, output):
            ranges[name] = inputs[0].detach().abs().flatten(0, -2).amax(0).float()
        return hook

    hooks = [layer.register_forward_hook(keep(name)) for name, layer in quantisable(model).items()]
    try:
        with torch.inference_mode():
            model(pixels)
    finally:
        for hook in hooks:
            hook.remove()
    return ranges


def _scale(layer: nn.Linear, activation_range: torch.Tensor) -> torch.Tensor:
    weight_range = layer.weight.detach().abs().amax(0).float()
    scale = activation_range.clamp(min=1e-5) ** ALPHA / weight_range.clamp(min=1e-5) ** (1 - ALPHA)
    return scale.clamp(1e-2, 1e2)


@torch.no_grad()
def smooth(model: nn.Module, pixels: torch.Tensor) -> None:
    """Fold SmoothQuant scales into `model` (a float_copy); its output does not change."""
    ranges = input_ranges(model, pixels)
    for number, block in enumerate(model.blocks):
        attention, mlp = block.attn, block.mlp
        if not isinstance(getattr(block, "norm2", None), nn.Module) or not isinstance(attention.qkv, SplitQKV):
            continue
        fc1 = _scale(mlp.fc1, ranges[f"blocks.{number}.mlp.fc1"])
        proj = _scale(attention.proj, ranges[f"blocks.{number}.attn.proj"])
        value = _scale(attention.qkv.v, ranges[f"blocks.{number}.attn.qkv.v"])
        mlp.fc1.weight.mul_(fc1)
        block.norm2.weight.div_(fc1)
        block.norm2.bias.div_(fc1)
        attention.proj.weight.mul_(proj)
        attention.qkv.v.weight.div_(proj[:, None])
        if attention.qkv.v.bias is not None:
            attention.qkv.v.bias.div_(proj)
        attention.qkv.v.weight.mul_(value)
        attention.qkv.qk.weight.mul_(value)
        block.norm1.weight.div_(value)
        block.norm1.bias.div_(value)


def calibration_pixels(prepare) -> torch.Tensor:
    """The sample photos the app ships, prepared as the model sees them."""
    from PIL import Image

    from vit_gui.resources import resource_path

    photos = []
    for path in sorted(Path(resource_path("samples")).glob("*.jpg")):
        with Image.open(path) as image:
            photos.append(image.convert("RGB"))
    if not photos:
        raise FileNotFoundError(f"no sample photos in {resource_path('samples')} to measure int8's scales on")
    return prepare(photos)


def quantised(model: nn.Module, pixels: torch.Tensor, int8_layer: type[nn.Module] = PerPhotoInt8) -> nn.Module:
    """An int8 copy of `model` that keeps its maps, smoothed on `pixels`; `int8_layer` makes
    each quantised layer from its float one (torch's kernels, or OpenVINO's pattern)."""
    copy_ = float_copy(model)
    smooth(copy_, pixels)
    for name, layer in quantisable(copy_).items():
        if name in FLOAT_LAYERS:
            continue
        parent, _, child = name.rpartition(".")
        setattr(copy_.get_submodule(parent), child, int8_layer(layer))
    return copy_

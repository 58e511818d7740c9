"""Checkpoint key layouts: each a (detect, convert) pair that maps a family's names to ours.

Ours are timm's. A new layout is one `Layout` appended to `LAYOUTS`: `detect` looks at the
key names only, `convert` renames (and fuses query/key/value into qkv) and raises
CheckpointError naming the first missing tensor. Hugging Face's ViT, DeiT, DINOv2 and
DINOv2-with-registers share one converter: they differ in the model prefix, the block
names (classic hub names or transformers 5's), and their extra tokens and heads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vit_gui.errors import CheckpointError

# Our per-block names -> Hugging Face's, by (family, transformers 5 names?).
_VIT_BLOCK = {"norm1": "layernorm_before", "norm2": "layernorm_after"}
_DINO_BLOCK = {"norm1": "norm1", "norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
               "ls1.gamma": "layer_scale1.lambda1", "ls2.gamma": "layer_scale2.lambda1"}
_CLASSIC_ATTN = {"attn.proj": "attention.output.dense", "q": "attention.attention.query",
                 "k": "attention.attention.key", "v": "attention.attention.value"}
_V5_ATTN = {"attn.proj": "attention.o_proj", "q": "attention.q_proj", "k": "attention.k_proj",
            "v": "attention.v_proj"}
BLOCK_NAMES = {
    ("vit", False): {**_VIT_BLOCK, **_CLASSIC_ATTN, "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"},
    ("vit", True): {**_VIT_BLOCK, **_V5_ATTN, "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"},
    ("dinov2", False): {**_DINO_BLOCK, **_CLASSIC_ATTN},
    ("dinov2", True): {**_DINO_BLOCK, **_V5_ATTN},
}
# Hugging Face head names -> ours; the pooler is never used for classification.
HF_HEADS = {"classifier": "head", "cls_classifier": "head", "distillation_classifier": "head_dist"}
HF_IGNORED = ("pooler.", "embeddings.mask_token")


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    detect: Callable[[dict], bool]
    convert: Callable[[dict], dict]
    layer_norm_eps: float  # the family's default where no config or sidecar says otherwise


def count_blocks(state: dict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    if indices != set(range(len(indices))):
        raise CheckpointError(f"block numbering has gaps: {sorted(indices)}")
    return len(indices)


class _Taker:
    """Pops tensors by name, failing with the missing name; what is left is unexpected."""

    def __init__(self, state: dict, what: str):
        self.left, self.what = dict(state), what

    def __call__(self, key: str) -> torch.Tensor:
        if key not in self.left:
            raise CheckpointError(f"{self.what} checkpoint is missing '{key}'")
        return self.left.pop(key)

    def maybe(self, key: str) -> torch.Tensor | None:
        return self.left.pop(key, None)


def _convert_hf(state: dict, top: str, family: str, what: str) -> dict:
    """A Hugging Face ViT/DeiT/DINOv2 state dict (model prefix `top`) in our names."""
    take = _Taker(state, what)
    emb = f"{top}embeddings."
    out = {
        "cls_token": take(f"{emb}cls_token"),
        "pos_embed": take(f"{emb}position_embeddings"),
        "patch_embed.proj.weight": take(f"{emb}patch_embeddings.projection.weight"),
        "patch_embed.proj.bias": take(f"{emb}patch_embeddings.projection.bias"),
        "norm.weight": take(f"{top}layernorm.weight"),
        "norm.bias": take(f"{top}layernorm.bias"),
    }
    for theirs, ours in (("distillation_token", "dist_token"), ("register_tokens", "reg_token")):
        if (token := take.maybe(f"{emb}{theirs}")) is not None:
            out[ours] = token
    for theirs, ours in HF_HEADS.items():
        for p in ("weight", "bias"):
            if (tensor := take.maybe(f"{theirs}.{p}")) is not None:
                out[f"{ours}.{p}"] = tensor
    blocks = f"{top}encoder.layer." if any(k.startswith(f"{top}encoder.layer.") for k in state) else f"{top}layers."
    v5 = any(".attention.q_proj." in k for k in state)
    names = BLOCK_NAMES[(family, v5)]
    for i in range(count_blocks(state, blocks)):
        hf, ours = f"{blocks}{i}.", f"blocks.{i}."
        for our_name in ("norm1", "norm2", "attn.proj", "mlp.fc1", "mlp.fc2"):
            for p in ("weight", "bias"):
                out[f"{ours}{our_name}.{p}"] = take(f"{hf}{names[our_name]}.{p}")
        if family == "dinov2":
            for scale in ("ls1.gamma", "ls2.gamma"):
                out[f"{ours}{scale}"] = take(f"{hf}{names[scale]}")
        out[f"{ours}attn.qkv.weight"] = torch.cat([take(f"{hf}{names[x]}.weight") for x in "qkv"])
        biases = [f"{hf}{names[x]}.bias" for x in "qkv"]
        if all(b in take.left for b in biases):
            out[f"{ours}attn.qkv.bias"] = torch.cat([take(b) for b in biases])
    leftovers = sorted(k for k in take.left if not any(k.removeprefix(top).startswith(i) for i in HF_IGNORED))
    if leftovers:
        raise CheckpointError(f"unexpected tensors in {what} checkpoint: {', '.join(leftovers[:5])}")
    return out


def _hf_top(state: dict, candidates: tuple[str, ...]) -> str | None:
    """Which model prefix ('vit.', 'deit.', 'dinov2.' or none) holds the patch embedding."""
    return next((top for top in candidates if f"{top}embeddings.patch_embeddings.projection.weight" in state), None)


DINOV2_TOPS = ("", "dinov2.", "dinov2_with_registers.")  # the backbone, or inside the image classifiers


def _is_dinov2(state: dict) -> bool:
    top = _hf_top(state, DINOV2_TOPS)
    return top is not None and any(".layer_scale1.lambda1" in k for k in state)


def _convert_dinov2(state: dict) -> dict:
    return _convert_hf(state, _hf_top(state, DINOV2_TOPS), "dinov2", "Hugging Face DINOv2")


LAYOUTS: tuple[Layout, ...] = (
    Layout("timm", "timm VisionTransformer (also vit-gui's own)",
           lambda s: "patch_embed.proj.weight" in s, dict, 1e-6),
    Layout("hf-vit", "Hugging Face ViTModel / ViTForImageClassification",
           lambda s: _hf_top(s, ("vit.",)) is not None,
           lambda s: _convert_hf(s, "vit.", "vit", "Hugging Face ViT"), 1e-12),
    Layout("hf-deit", "Hugging Face DeiTModel / DeiTForImageClassification(WithTeacher)",
           lambda s: _hf_top(s, ("deit.",)) is not None,
           lambda s: _convert_hf(s, "deit.", "vit", "Hugging Face DeiT"), 1e-12),
    Layout("hf-dinov2", "Hugging Face Dinov2Model / Dinov2WithRegistersModel (and their image classifiers)",
           _is_dinov2, _convert_dinov2, 1e-6),
)


def find_layout(state: dict) -> Layout | None:
    return next((layout for layout in LAYOUTS if layout.detect(state)), None)

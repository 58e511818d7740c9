"""Load ViT checkpoints as data, never as code.

Reads PyTorch .pth/.pt/.bin files with `weights_only=True` (the pickle may only rebuild
tensors and plain containers) and .safetensors with a small parser of our own (a JSON
header and raw bytes, no code at all). Accepts timm's key layout and Hugging Face
`ViTForImageClassification`'s two layouts, maps them to ours, and infers the
architecture from the tensors' shapes.
"""

from __future__ import annotations

import json
import math
import pickle
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from vit_gui.errors import CheckpointError
from vit_gui.model import config as cfg
from vit_gui.model.vit import VisionTransformer

EXPECTED = (
    "expected a Vision Transformer classifier saved as a PyTorch state dict (.pth/.pt) "
    "or a .safetensors file, in timm's or Hugging Face ViTForImageClassification's layout"
)
NESTED_KEYS = ("model", "state_dict", "model_state_dict")
SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


@dataclass
class LoadedModel:
    model: VisionTransformer
    info: cfg.ModelInfo


# --------------------------------------------------------------------------- reading


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The flat name -> tensor mapping stored in a checkpoint file, read safely."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not head:
        raise CheckpointError(f"{path.name} is empty; {EXPECTED}")
    if _looks_like_safetensors(head):
        state = _read_safetensors(path)
    else:
        state = _read_torch(path)
    return _unwrap(state, path)


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] > 1


def _read_torch(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        culprit = re.search(r"GLOBAL ([\w.]+)", text)
        if culprit or "Unsupported global" in text:
            what = f" ({culprit.group(1)})" if culprit else ""
            raise CheckpointError(
                f"refused {path.name}: its pickle asks to run code{what}, which could harm this "
                "computer; only plain weights are loaded. Re-save it as a state dict or .safetensors."
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)", text, re.S)
        reason = detail.group(1).strip() if detail else text.splitlines()[0]
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({reason[:200]}); {EXPECTED}") from None
    except Exception as exc:  # torch.load raises many unrelated types on garbage input
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({reason[:200]}); {EXPECTED}") from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Parse the safetensors format: u64 header size, JSON header, then raw tensor bytes.

    Each tensor is read straight into its own buffer, so loading never holds the file's
    bytes twice.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > MAX_SAFETENSORS_HEADER or 8 + header_len > size:
            raise CheckpointError(f"{path.name}: truncated or corrupt .safetensors file (header runs past the end)")
        try:
            header = json.loads(fh.read(header_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointError(f"{path.name}: corrupt .safetensors header ({exc})") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{path.name}: corrupt .safetensors header (not a JSON object)")
        body_start, body_size = 8 + header_len, size - 8 - header_len
        tensors = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            dtype, shape, start, end = _safetensors_entry(path, name, entry, body_size)
            buffer = bytearray(end - start)
            fh.seek(body_start + start)
            if fh.readinto(buffer) != len(buffer):
                raise CheckpointError(f"{path.name}: truncated .safetensors file ('{name}' is cut short)")
            tensors[name] = torch.frombuffer(buffer, dtype=dtype).reshape(shape) if buffer else torch.empty(shape, dtype=dtype)
    return tensors


def _safetensors_entry(path: Path, name: str, entry, body_size: int):
    """(dtype, shape, start, end) of one header entry, checked against the file."""
    try:
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        shape = [int(s) for s in entry["shape"]]
        start, end = (int(o) for o in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path.name}: corrupt .safetensors entry for '{name}'") from None
    itemsize = torch.empty((), dtype=dtype).element_size()
    if min(shape, default=0) < 0 or not 0 <= start <= end <= body_size or end - start != math.prod(shape) * itemsize:
        raise CheckpointError(
            f"{path.name}: truncated or corrupt .safetensors file ('{name}' does not fit its data)"
        )
    return dtype, shape, start, end


def _unwrap(state, path: Path) -> dict[str, torch.Tensor]:
    """Find the state dict inside training checkpoints and drop `module.` prefixes."""
    for _ in range(3):
        if isinstance(state, dict):
            nested = next((state[k] for k in NESTED_KEYS if isinstance(state.get(k), dict)), None)
            if nested is not None and not any(torch.is_tensor(v) for v in state.values()):
                state = nested
                continue
        break
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path.name} holds {type(state).__name__}, not a state dict; {EXPECTED}")
    tensors = {k: v for k, v in state.items() if isinstance(k, str) and torch.is_tensor(v)}
    if not tensors:
        raise CheckpointError(f"{path.name} has no tensors; {EXPECTED}")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


# --------------------------------------------------------------------------- layouts


def _hf_block_map(classic: bool) -> dict[str, str]:
    """Our per-block names -> Hugging Face's, for its classic and its v5 layouts."""
    if classic:
        return {
            "norm1": "layernorm_before", "norm2": "layernorm_after",
            "attn.proj": "attention.output.dense",
            "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
            "q": "attention.attention.query", "k": "attention.attention.key",
            "v": "attention.attention.value",
        }
    return {
        "norm1": "layernorm_before", "norm2": "layernorm_after",
        "attn.proj": "attention.o_proj", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
        "q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj",
    }


def detect_layout(state: dict[str, torch.Tensor]) -> str:
    if "patch_embed.proj.weight" in state:
        return "timm"
    if "vit.embeddings.patch_embeddings.projection.weight" in state:
        if any(k.startswith("vit.encoder.layer.") for k in state):
            return "hf"
        if any(k.startswith("vit.layers.") for k in state):
            return "hf-v5"
    return "unknown"


def to_timm_layout(state: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """Rename (and for Hugging Face, fuse q/k/v into qkv) to our parameter names."""
    if layout == "timm":
        return dict(state)
    prefix = "vit.encoder.layer." if layout == "hf" else "vit.layers."
    names = _hf_block_map(classic=layout == "hf")
    src = dict(state)
    out = {}

    def take(key):
        if key not in src:
            raise CheckpointError(f"Hugging Face ViT checkpoint is missing '{key}'")
        return src.pop(key)

    out["cls_token"] = take("vit.embeddings.cls_token")
    out["pos_embed"] = take("vit.embeddings.position_embeddings")
    out["patch_embed.proj.weight"] = take("vit.embeddings.patch_embeddings.projection.weight")
    out["patch_embed.proj.bias"] = take("vit.embeddings.patch_embeddings.projection.bias")
    out["norm.weight"] = take("vit.layernorm.weight")
    out["norm.bias"] = take("vit.layernorm.bias")
    if "classifier.weight" not in src:
        raise CheckpointError("this Hugging Face ViT has no classification head ('classifier'): "
                              "a ViTModel backbone cannot classify; use ViTForImageClassification weights")
    out["head.weight"] = take("classifier.weight")
    out["head.bias"] = take("classifier.bias")
    depth = _count_blocks(src, prefix)
    for i in range(depth):
        hf = f"{prefix}{i}."
        ours = f"blocks.{i}."
        for our_name in ("norm1", "norm2", "attn.proj", "mlp.fc1", "mlp.fc2"):
            for p in ("weight", "bias"):
                out[f"{ours}{our_name}.{p}"] = take(f"{hf}{names[our_name]}.{p}")
        out[f"{ours}attn.qkv.weight"] = torch.cat([take(f"{hf}{names[x]}.weight") for x in "qkv"])
        biases = [f"{hf}{names[x]}.bias" for x in "qkv"]
        if all(b in src for b in biases):
            out[f"{ours}attn.qkv.bias"] = torch.cat([take(b) for b in biases])
    leftovers = sorted(k for k in src if not k.startswith("vit.pooler."))
    if leftovers:
        raise CheckpointError(f"unexpected tensors in Hugging Face ViT checkpoint: {', '.join(leftovers[:5])}")
    return out


def _count_blocks(state: dict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    if indices != set(range(len(indices))):
        raise CheckpointError(f"block numbering has gaps: {sorted(indices)}")
    return len(indices)


# --------------------------------------------------------------------------- architecture


def infer_architecture(state: dict[str, torch.Tensor], sidecar: dict) -> cfg.Architecture:
    """Depth, width, patch, grid and classes from tensor shapes; heads from the sidecar."""
    required = ["patch_embed.proj.weight", "cls_token", "pos_embed", "norm.weight", "head.weight"]
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"not a ViT classifier: missing {', '.join(missing)}; {EXPECTED}")
    proj = state["patch_embed.proj.weight"]
    if proj.ndim != 4 or proj.shape[2] != proj.shape[3] or proj.shape[1] != 3:
        raise CheckpointError(f"patch embedding has shape {tuple(proj.shape)}; expected (width, 3, p, p)")
    embed_dim, patch = proj.shape[0], proj.shape[2]
    pos = state["pos_embed"]
    if pos.ndim != 3 or pos.shape[-1] != embed_dim or pos.shape[1] < 2:
        raise CheckpointError(f"position embedding has shape {tuple(pos.shape)}; expected (1, 1 + patches, {embed_dim})")
    grid = _trained_grid(pos.shape[1] - 1, sidecar)
    head = state["head.weight"]
    if head.ndim != 2 or head.shape[1] != embed_dim:
        raise CheckpointError(f"classifier head has shape {tuple(head.shape)}; expected (classes, {embed_dim})")
    depth = _count_blocks(state, "blocks.")
    if depth == 0:
        raise CheckpointError("no transformer blocks ('blocks.N.') in the checkpoint")
    fc1 = state.get("blocks.0.mlp.fc1.weight")
    if fc1 is None or fc1.ndim != 2:
        raise CheckpointError("block 0 has no MLP ('blocks.0.mlp.fc1.weight')")
    return cfg.Architecture(
        depth=depth,
        embed_dim=embed_dim,
        num_heads=cfg.parse_num_heads(sidecar, embed_dim),
        patch_size=patch,
        grid=grid,
        num_classes=head.shape[0],
        mlp_hidden=fc1.shape[0],
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        layer_norm_eps=cfg.parse_layer_norm_eps(sidecar),
    )


def _trained_grid(patches: int, sidecar: dict) -> tuple[int, int]:
    if "grid" in sidecar:
        grid = sidecar["grid"]
        if not (isinstance(grid, list) and len(grid) == 2 and all(isinstance(g, int) and g > 0 for g in grid)):
            raise CheckpointError(f"sidecar 'grid' must be [rows, cols], got {grid!r}")
        if grid[0] * grid[1] != patches:
            raise CheckpointError(f"sidecar 'grid' {grid} does not hold the checkpoint's {patches} patches")
        return tuple(grid)
    side = math.isqrt(patches)
    if side * side != patches:
        raise CheckpointError(f"{patches} position embeddings are not a square grid: set 'grid' in the sidecar")
    return side, side


# --------------------------------------------------------------------------- loading


def build_model(state: dict[str, torch.Tensor], arch: cfg.Architecture) -> VisionTransformer:
    """The model, with the checkpoint's tensors as its parameters (checked name by name and
    shape by shape). Built uninitialised and given the loaded tensors themselves, so the
    weights are in memory once, not twice."""
    model = VisionTransformer(
        grid=arch.grid, patch_size=arch.patch_size, num_classes=arch.num_classes,
        embed_dim=arch.embed_dim, depth=arch.depth, num_heads=arch.num_heads,
        mlp_hidden=arch.mlp_hidden, qkv_bias=arch.qkv_bias, layer_norm_eps=arch.layer_norm_eps,
        init_weights=False,
    )
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}{' …' if len(unexpected) > 4 else ''}")
        raise CheckpointError(f"not a classic ViT ({'; '.join(parts)}); {EXPECTED}")
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise CheckpointError(
                f"'{name}' has shape {tuple(state[name].shape)}, expected {tuple(tensor.shape)} "
                f"for a {arch.name} with {arch.num_heads} heads"
            )
    model.load_state_dict({k: v.float().contiguous() for k, v in state.items()}, assign=True)
    return model.eval()


def load_model(path: Path | str) -> LoadedModel:
    """Read a checkpoint and its sidecar into an eval-mode model plus its facts."""
    path = Path(path)
    sidecar = cfg.read_sidecar(path)
    raw = read_state_dict(path)
    layout = detect_layout(raw)
    if layout == "unknown":
        sample = ", ".join(sorted(raw)[:3])
        raise CheckpointError(f"{path.name} is not a ViT checkpoint (its tensors are named {sample}, …); {EXPECTED}")
    state = to_timm_layout(raw, layout)
    arch = infer_architecture(state, sidecar)
    model = build_model(state, arch)
    default_size = (arch.grid[0] * arch.patch_size, arch.grid[1] * arch.patch_size)
    labels, warnings = cfg.parse_labels(sidecar, arch.num_classes)
    if not labels and "labels" not in sidecar and "labels_file" not in sidecar and arch.num_classes == 1000:
        from vit_gui.model.catalog import imagenet_labels

        labels = imagenet_labels()
        warnings += ("no class names given: assuming ImageNet-1k's 1000 classes",)
    info = cfg.ModelInfo(
        name=str(sidecar.get("name") or path.stem),
        path=path,
        architecture=arch,
        preprocessing=cfg.parse_preprocessing(sidecar, default_size),
        labels=labels,
        layout=layout,
        source=str(sidecar.get("source", "")),
        license=str(sidecar.get("license", "")),
        warnings=warnings,
    )
    return LoadedModel(model, info)

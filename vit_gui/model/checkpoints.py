"""Load ViT checkpoints as data, never as code.

Reads PyTorch .pth/.pt/.bin files with `weights_only=True` (the pickle may only rebuild
tensors and plain containers) and .safetensors with a small parser of our own (a JSON
header and raw bytes, no code at all). Maps the key layouts of `model/layouts.py` to ours
and infers the architecture from the tensors' shapes.
"""

from __future__ import annotations

import math
import pickle
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from vit_gui.errors import CheckpointError
from vit_gui.file_kinds import require_regular_file
from vit_gui.model import config as cfg
from vit_gui.model import hf_config
from vit_gui.model.layouts import count_blocks, find_layout
from vit_gui.model.safetensors_io import looks_like_safetensors, read_safetensors
from vit_gui.model.tensor_claims import check_strides, stored_numbers, tensor_view
from vit_gui.model.vit import VisionTransformer

EXPECTED = (
    "expected a Vision Transformer (ViT, DeiT or DINOv2, classifier or backbone) saved as a PyTorch "
    "state dict (.pth/.pt) or a .safetensors file, in timm's or Hugging Face's layout"
)
NESTED_KEYS = ("model", "state_dict", "model_state_dict")
ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class LoadedModel:
    model: VisionTransformer
    info: cfg.ModelInfo


# --------------------------------------------------------------------------- reading


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The flat name -> tensor mapping stored in a checkpoint file, read safely."""
    path = Path(path)
    require_regular_file(path, CheckpointError, "the model")
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not head:
        raise CheckpointError(f"{path.name} is empty; {EXPECTED}")
    if looks_like_safetensors(head):
        state = read_safetensors(path)
    elif head.startswith(ZIP_MAGIC):
        _check_zip(path)
        state = _read_torch(path)
    elif head[:1] == b"\x80":  # a pickle: PyTorch's legacy (pre-1.6) format
        state = _read_torch(path)
    else:  # never handed to torch.load, which would read a 4 GB file of zeros whole
        what = "zero bytes" if not head.strip(b"\0") else f"bytes {head[:8].hex(' ')}"
        raise CheckpointError(f"{path.name} is not a readable checkpoint (it starts with {what}); {EXPECTED}")
    tensors = _unwrap(state, path)
    check_strides(tensors, path)
    return tensors


def _check_zip(path: Path) -> None:
    """PyTorch's zip format stores tensors uncompressed, each once: entries that expand
    (deflate) or overlap would make loading allocate far more than the file holds."""
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is not a readable checkpoint (a damaged zip archive: {exc}); "
                              f"{EXPECTED}") from None
    packed = [e.filename for e in entries if e.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise CheckpointError(f"{path.name} has compressed entries ({packed[0]}, …), which PyTorch never "
                              "writes; refused, as they could expand far beyond the file's size")
    total = sum(e.file_size for e in entries)
    if total > size:
        raise CheckpointError(f"{path.name}: its entries claim {total:,} bytes in a file of {size:,} "
                              "(overlapping entries); refused")


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
        damage = ""  # what a user can act on, instead of torch's words ("expected %ld got %ld2824")
        if "storage has wrong byte size" in reason:
            damage = "the length written before a block of its numbers differs from the length its index gives"
        elif isinstance(exc, (EOFError, struct.error)) or reason.startswith("unexpected EOF"):
            damage = "it ends part-way through, cut short"
        if damage:
            raise CheckpointError(f"{path.name} is not a readable checkpoint: it is damaged ({damage}); "
                                  "save or download it again") from None
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({reason[:200]}); {EXPECTED}") from None


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


# --------------------------------------------------------------------------- architecture


def infer_architecture(state: dict[str, torch.Tensor], sidecar: dict, default_eps: float = 1e-6,
                       default_antialias: bool = False) -> cfg.Architecture:
    """Depth, width, patch, grid, classes and the family's switches from tensor shapes;
    heads, GELU flavour and (where given) epsilon and position resampling from the sidecar."""
    required = ["patch_embed.proj.weight", "cls_token", "pos_embed", "norm.weight"]
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"not a ViT: missing {', '.join(missing)}; {EXPECTED}")
    proj = state["patch_embed.proj.weight"]
    if proj.ndim != 4 or proj.shape[2] != proj.shape[3] or proj.shape[1] != 3:
        raise CheckpointError(f"patch embedding has shape {tuple(proj.shape)}; expected (width, 3, p, p)")
    embed_dim, patch = proj.shape[0], proj.shape[2]
    reg = state.get("reg_token")
    if reg is not None and (reg.ndim != 3 or reg.shape[-1] != embed_dim):
        raise CheckpointError(f"register tokens have shape {tuple(reg.shape)}; expected (1, registers, {embed_dim})")
    num_reg = 0 if reg is None else reg.shape[1]
    num_prefix = 1 + int("dist_token" in state) + num_reg
    pos = state["pos_embed"]
    if pos.ndim != 3 or pos.shape[-1] != embed_dim or pos.shape[1] < 1:
        raise CheckpointError(f"position embedding has shape {tuple(pos.shape)}; expected (1, tokens, {embed_dim})")
    grid, prefix_pos = _trained_grid(pos.shape[1], num_prefix, sidecar)
    num_classes, head_input = 0, "cls"
    if "head.weight" in state:
        head = state["head.weight"]
        if head.ndim == 2 and head.shape[1] == 2 * embed_dim:
            head_input = "cls+mean"  # Dinov2ForImageClassification, and vit-gui's own cls+mean probes
        elif head.ndim != 2 or head.shape[1] != embed_dim:
            raise CheckpointError(f"classifier head has shape {tuple(head.shape)}; expected (classes, {embed_dim})")
        num_classes = head.shape[0]
    depth = count_blocks(state, "blocks.")
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
        num_classes=num_classes,
        mlp_hidden=fc1.shape[0],
        qkv_bias="blocks.0.attn.qkv.bias" in state,
        layer_norm_eps=cfg.parse_layer_norm_eps(sidecar, default_eps),
        layer_scale="blocks.0.ls1.gamma" in state,
        dist_token="dist_token" in state,
        dist_head="head_dist.weight" in state,
        num_reg_tokens=num_reg,
        prefix_pos_tokens=prefix_pos,
        gelu=cfg.parse_gelu(sidecar),
        pos_embed_antialias=cfg.parse_flag(sidecar, "pos_embed_antialias", default_antialias),
        head_input=head_input,
    )


def _trained_grid(tokens: int, num_prefix: int, sidecar: dict) -> tuple[tuple[int, int], int]:
    """(trained patch grid, prefix tokens with a position embedding) for a position embedding
    of `tokens` entries: the prefix part is whatever the grid leaves (0..num_prefix)."""
    if "grid" in sidecar:
        grid = sidecar["grid"]
        if not (isinstance(grid, list) and len(grid) == 2 and all(isinstance(g, int) and g > 0 for g in grid)):
            raise CheckpointError(f"sidecar 'grid' must be [rows, cols], got {grid!r}")
        if not 0 <= tokens - grid[0] * grid[1] <= num_prefix:
            raise CheckpointError(f"sidecar 'grid' {grid} does not fit the checkpoint's {tokens} position embeddings")
        return tuple(grid), tokens - grid[0] * grid[1]
    for prefix in range(num_prefix, -1, -1):
        side = math.isqrt(max(tokens - prefix, 0))
        if side and side * side == tokens - prefix:
            return (side, side), prefix
    raise CheckpointError(f"{tokens} position embeddings are not a square grid: set 'grid' in the sidecar")


# --------------------------------------------------------------------------- loading


def build_model(state: dict[str, torch.Tensor], arch: cfg.Architecture) -> VisionTransformer:
    """The model, with the checkpoint's tensors as its parameters (checked name by name and
    shape by shape). Built uninitialised and given the loaded tensors themselves, so the
    weights are in memory once, not twice."""
    _check_size_claims(state, arch)
    model = VisionTransformer(**arch.model_kwargs(), init_weights=False)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = "; ".join(f"{what} {', '.join(names[:4])}{' …' if len(names) > 4 else ''}"
                          for what, names in (("missing", missing), ("unexpected", unexpected)) if names)
        raise CheckpointError(f"not a ViT of a known kind ({parts}); {EXPECTED}")
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise CheckpointError(
                f"'{name}' has shape {tuple(state[name].shape)}, expected {tuple(tensor.shape)} "
                f"for a {arch.name} with {arch.num_heads} heads"
            )
        _check_values(name, state[name])
    widened: dict[tuple, torch.Tensor] = {}  # a tensor under two names (tied weights) is widened once
    for name in list(state):  # widened one by one, each half-precision original let go at once
        view = tensor_view(state[name])
        if view not in widened:
            widened[view] = state[name].float().contiguous()
        state[name] = widened[view]
    model.load_state_dict(state, assign=True)
    return model.eval()


def parameter_count(arch: cfg.Architecture) -> int:
    """How many numbers the model `arch` describes holds (our VisionTransformer's layout)."""
    e, m, p = arch.embed_dim, arch.mlp_hidden, arch.patch_size
    block = 4 * e + (3 * e * e + 3 * e * arch.qkv_bias) + (e * e + e) + (2 * e * m + m + e) + 2 * e * arch.layer_scale
    tokens = arch.grid[0] * arch.grid[1] + arch.prefix_pos_tokens
    embed = 3 * p * p * e + e + (arch.num_prefix_tokens * e) + tokens * e + 2 * e
    head_width = 2 * e if arch.head_input == "cls+mean" else e
    heads = arch.num_classes * head_width + arch.num_classes + arch.dist_head * (arch.num_classes * e + arch.num_classes)
    return arch.depth * block + embed + heads


def _check_size_claims(state: dict[str, torch.Tensor], arch: cfg.Architecture) -> None:
    """Shapes read from a file decide how much memory the model takes: a file must hold
    (about) every number of the model it describes before that model is built."""
    present = stored_numbers(state)
    needed = parameter_count(arch)
    if needed > present * 1.01 + 1024:
        raise CheckpointError(f"the file describes a model of {needed:,} numbers but holds {present:,}; "
                              "refused before allocating it")


def _check_values(name: str, tensor: torch.Tensor) -> None:
    """Weights are floating-point numbers: anything else (integers, booleans, complex) or a
    NaN / infinity would make every answer meaningless, so the file is refused by name."""
    if not tensor.is_floating_point():
        raise CheckpointError(f"'{name}' holds {str(tensor.dtype).removeprefix('torch.')} values, "
                              "not floating-point weights")
    if tensor.element_size() == 1:  # 8-bit floats: torch has no max/min for them; widening is exact
        tensor = tensor.float()
    # NaN spreads into both extremes and an infinity is one: two reductions, ~6x faster than isfinite()
    if tensor.numel() and not (torch.isfinite(tensor.amax()) and torch.isfinite(tensor.amin())):
        raise CheckpointError(f"'{name}' holds values that are not numbers (NaN or infinite): the file is damaged")


def read_checkpoint(path: Path, sidecar: dict) -> tuple[dict[str, torch.Tensor], cfg.Architecture, str]:
    """(tensors in our names, architecture, layout name) of a checkpoint file, read safely."""
    raw = read_state_dict(path)
    layout = find_layout(raw)
    if layout is None:
        sample = ", ".join(sorted(raw)[:3])
        raise CheckpointError(f"{path.name} is not a ViT checkpoint (its tensors are named {sample}, …); {EXPECTED}")
    state = layout.convert(raw)
    # transformers' Dinov2WithRegisters resamples position embeddings with antialiasing, as
    # DINOv2's own code does for its register models; the plain DINOv2 and ViT do not
    antialias = layout.name == "hf-dinov2" and "reg_token" in state
    return state, infer_architecture(state, sidecar, layout.layer_norm_eps, antialias), layout.name


def model_weights(path: Path) -> Path:
    """The weights file a model path names: the file itself, or a Hugging Face folder's."""
    if path.is_dir():
        if not hf_config.is_model_folder(path):
            raise CheckpointError(f"{path.name} is a folder without a config.json; choose the model file itself")
        return hf_config.weights_in(path)
    return path


def load_model(path: Path | str) -> LoadedModel:
    """Read a checkpoint (or a Hugging Face model folder) and its facts into an eval-mode model."""
    path = Path(path)
    weights = model_weights(path)
    sidecar = cfg.read_sidecar(weights)
    state, arch, layout = read_checkpoint(weights, sidecar)
    return model_from_state(state, arch, sidecar, path, layout)


def model_from_state(state: dict[str, torch.Tensor], arch: cfg.Architecture, sidecar: dict, path: Path,
                     layout: str) -> LoadedModel:
    """The model and its facts from tensors in our names: what a file holds once read, or a
    model made in memory (a taught classifier before it is saved)."""
    model = build_model(state, arch)
    default_size = (arch.grid[0] * arch.patch_size, arch.grid[1] * arch.patch_size)
    preprocessing = cfg.parse_preprocessing(sidecar, default_size)
    if min(preprocessing.input_size) < arch.patch_size:
        raise cfg.ModelConfigError(f"'input_size' {list(preprocessing.input_size)} is smaller than one "
                                   f"{arch.patch_size}-pixel patch of this model")
    labels, warnings = cfg.parse_labels(sidecar, arch.num_classes)
    named = any(key in sidecar for key in ("labels", "labels_file", "id2label"))
    if not labels and not named and arch.num_classes == 1000:
        from vit_gui.model.catalog import imagenet_labels

        labels = imagenet_labels()
        warnings += ("no class names given: assuming ImageNet-1k's 1000 classes",)
    info = cfg.ModelInfo(
        name=str(sidecar.get("name") or path.stem), path=path, architecture=arch, preprocessing=preprocessing,
        labels=labels, layout=layout, source=str(sidecar.get("source", "")), license=str(sidecar.get("license", "")),
        warnings=warnings,
        rollout_start_block=cfg.parse_rollout_start(sidecar, arch.depth),
        default_map=cfg.parse_default_map(sidecar, arch.num_classes > 0),
        precision=cfg.parse_precision(sidecar),
    )
    return LoadedModel(model, info)

"""What a model is and how it wants its input: architecture, preprocessing and labels.

The architecture is inferred from the weights; everything the weights cannot say (heads,
preprocessing, class names, where it came from) comes from an optional sidecar JSON file
`<weights>.json` beside the checkpoint, validated here with messages a user can act on.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from vit_gui.errors import ModelConfigError
from vit_gui.model.json_file import read_json_object
from vit_gui.model.labels_file import read_labels_file

#: timm's convention: ViT-Ti/S/B/L/H have 64-dimensional heads.
HEADS_BY_WIDTH = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}
SIZE_NAMES = {192: "Ti", 384: "S", 768: "B", 1024: "L", 1280: "H"}
INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "lanczos")
RESIZE_MODES = ("crop", "resize", "letterbox")
MIN_STD, MAX_NORM = 1e-3, 10.0  # normalisation on the [0, 1] pixel scale
MAX_INPUT_SIDE = 4096  # a ViT-B at 4096 px already has 65,536 tokens


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input tensor.

    `crop`: resize the shorter side to input/crop_pct, then centre-crop (timm's eval
    transform). `resize`: squash the image to input/crop_pct, then centre-crop (Hugging
    Face's processors). `letterbox`: fit the whole image inside the input, pad with the mean
    colour (or `pad_rgb`); `letterbox_floor` sizes the fitted photo by truncation, as the
    seed's `letterbox_image` does, instead of rounding.
    """

    input_size: tuple[int, int] = (224, 224)  # (height, width)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    crop_pct: float = 0.9
    interpolation: str = "bicubic"
    resize_mode: str = "crop"
    pad_rgb: tuple[int, int, int] | None = None  # letterbox padding; None: the mean colour
    letterbox_floor: bool = False


@dataclass(frozen=True)
class Architecture:
    """The shape of a ViT, as far as the weights and the sidecar tell it.

    `num_classes == 0` is a backbone (no head). Prefix tokens come before the patches:
    the class token, a distillation token (distilled DeiT), then register tokens.
    """

    depth: int
    embed_dim: int
    num_heads: int
    patch_size: int
    grid: tuple[int, int]
    num_classes: int
    mlp_hidden: int
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-6
    layer_scale: bool = False
    dist_token: bool = False
    dist_head: bool = False
    num_reg_tokens: int = 0
    prefix_pos_tokens: int = 1
    gelu: str = "erf"
    pos_embed_antialias: bool = False
    head_input: str = "cls"  # "cls+mean": the head reads the class token and the mean of the patches

    @property
    def num_prefix_tokens(self) -> int:
        return 1 + int(self.dist_token) + self.num_reg_tokens

    @property
    def is_backbone(self) -> bool:
        return self.num_classes == 0

    @property
    def name(self) -> str:
        size = SIZE_NAMES.get(self.embed_dim)
        name = f"ViT-{size}/{self.patch_size}" if size else f"ViT d{self.depth} w{self.embed_dim}/{self.patch_size}"
        if self.dist_token:
            name += " distilled"
        if self.num_reg_tokens:
            name += f" + {self.num_reg_tokens} registers"
        return name

    def model_kwargs(self) -> dict:
        """The VisionTransformer arguments that build this architecture."""
        return dict(
            grid=self.grid, patch_size=self.patch_size, num_classes=self.num_classes, embed_dim=self.embed_dim,
            depth=self.depth, num_heads=self.num_heads, mlp_hidden=self.mlp_hidden, qkv_bias=self.qkv_bias,
            layer_norm_eps=self.layer_norm_eps, layer_scale=self.layer_scale, dist_token=self.dist_token,
            dist_head=self.dist_head, num_reg_tokens=self.num_reg_tokens, prefix_pos_tokens=self.prefix_pos_tokens,
            gelu=self.gelu, pos_embed_antialias=self.pos_embed_antialias, head_input=self.head_input,
        )


@dataclass(frozen=True)
class ModelInfo:
    """Everything the app shows and needs about one loaded model."""

    name: str
    path: Path
    architecture: Architecture
    preprocessing: Preprocessing
    labels: tuple[str, ...]
    layout: str  # which key layout the checkpoint used
    source: str = ""
    license: str = ""
    warnings: tuple[str, ...] = field(default=())
    rollout_start_block: int = 0  # 0-based: where this model's rollout is most telling by default
    default_map: str = "rollout"  # the map shown first: "class" (evidence for the top class) for taught models
    precision: str = "float32"  # the format it runs in unless the user picks another (model/precision.py)

    def label(self, index: int) -> str:
        """The class name, or `class N` when the model has no names for its classes."""
        if 0 <= index < len(self.labels) and self.labels[index]:
            return self.labels[index]
        return f"class {index}"


def sidecar_path(weights: Path) -> Path:
    """`model.pth` -> `model.pth.json`; `model.json` beside it is accepted too."""
    return weights.with_name(weights.name + ".json")


def find_sidecar(weights: Path) -> Path | None:
    for candidate in (sidecar_path(weights), weights.with_suffix(".json")):
        if candidate != weights and os.path.lexists(candidate):  # not a regular file: said when read
            return candidate
    return None


def read_sidecar(weights: Path) -> dict:
    """The model's facts: a Hugging Face config.json beside the weights translated (see
    hf_config), or what a checkpoint of the seed project implies (seed_layout), overridden
    key by key by our own sidecar; {} when there is none of them.
    `_origins` says which file each fact came from, for messages."""
    from vit_gui.model.hf_config import sidecar_for
    from vit_gui.model.seed_layout import seed_facts

    hugging_face, own = sidecar_for(weights), _read_own_sidecar(weights)
    seed = {} if hugging_face else seed_facts(weights, own)
    origins = {**seed.get("_origins", {}), **hugging_face.get("_origins", {}),
               **dict.fromkeys(own, own.get("_path"))}
    return {**seed, **hugging_face, **own, "_origins": origins}


def _read_own_sidecar(weights: Path) -> dict:
    path = find_sidecar(weights)
    if path is None:
        return {}
    return {"_path": path, **read_json_object(path, "the sidecar", "a JSON object with the model's facts")}


def _fail(sidecar: dict, message: str, key: str | None = None):
    """A ModelConfigError naming the file that holds `key` (our sidecar, or the Hugging
    Face config.json or preprocessor_config.json it came from)."""
    where = sidecar.get("_origins", {}).get(key) or sidecar.get("_path")
    if where is None:
        raise ModelConfigError(f"{message} (in a sidecar file <weights>.json beside the model)")
    if isinstance(where, tuple):  # (Hugging Face file, the key's name there)
        where, their_key = where
        message = message.replace(f"'{key}'", f"'{their_key}'")
    if len(message) > 400:  # a value can be a list of a million numbers
        message = message[:399] + "…"
    raise ModelConfigError(f"{Path(where).name}: {message}")


def _positive_int(sidecar: dict, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        _fail(sidecar, f"'{key}' must be a positive whole number, got {value!r}", key)
    return value


def _triple(sidecar: dict, key: str, default, positive: bool = False) -> tuple[float, float, float]:
    value = sidecar.get(key, default)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    ok = isinstance(value, (list, tuple)) and len(value) == 3
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    # pixels are scaled to [0, 1]: a std far from that range (1e-320) would turn every input into infinities
    low = MIN_STD if positive else -MAX_NORM
    ok = ok and all(math.isfinite(v) and low <= v <= MAX_NORM for v in value)
    if not ok:
        need = f"three numbers from {MIN_STD} to {MAX_NORM}" if positive else f"three numbers from -{MAX_NORM} to {MAX_NORM}"
        _fail(sidecar, f"'{key}' must be {need} (one per RGB channel), got {value!r}", key)
    return tuple(float(v) for v in value)


def _input_size(sidecar: dict, default: tuple[int, int]) -> tuple[int, int]:
    """Accepts 224, [224, 224] (h, w) or timm's [3, 224, 224]."""
    value = sidecar.get("input_size", default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if isinstance(value, (list, tuple)) and len(value) == 3 and value[0] == 3:
        value = value[1:]
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        _fail(sidecar, f"'input_size' must be N, [height, width] or [3, height, width], got {value!r}", "input_size")
    size = tuple(_positive_int(sidecar, "input_size", v) for v in value)
    if max(size) > MAX_INPUT_SIDE:
        _fail(sidecar, f"'input_size' {list(size)} is larger than {MAX_INPUT_SIDE} pixels a side", "input_size")
    return size


def parse_preprocessing(sidecar: dict, default_size: tuple[int, int]) -> Preprocessing:
    """Preprocessing from the sidecar, with defaults for whatever it leaves out."""
    base = Preprocessing(input_size=default_size)
    crop_pct = sidecar.get("crop_pct", base.crop_pct)
    if isinstance(crop_pct, bool) or not isinstance(crop_pct, (int, float)) or not 0.1 <= crop_pct <= 1.0:
        _fail(sidecar, f"'crop_pct' must be a number between 0.1 and 1, got {crop_pct!r}", "crop_pct")
    interpolation = sidecar.get("interpolation", base.interpolation)
    if interpolation not in INTERPOLATIONS:
        _fail(sidecar, f"'interpolation' must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}", "interpolation")
    resize_mode = sidecar.get("resize_mode", base.resize_mode)
    if resize_mode not in RESIZE_MODES:
        _fail(sidecar, f"'resize_mode' must be one of {', '.join(RESIZE_MODES)}, got {resize_mode!r}", "resize_mode")
    return Preprocessing(
        input_size=_input_size(sidecar, default_size),
        mean=_triple(sidecar, "mean", base.mean),
        std=_triple(sidecar, "std", base.std, positive=True),
        crop_pct=float(crop_pct),
        interpolation=interpolation,
        resize_mode=resize_mode,
        pad_rgb=_pad_rgb(sidecar),
        letterbox_floor=parse_flag(sidecar, "letterbox_floor", False),
    )


def _pad_rgb(sidecar: dict) -> tuple[int, int, int] | None:
    value = sidecar.get("pad_rgb")
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)):
        _fail(sidecar, f"'pad_rgb' must be three whole numbers from 0 to 255, got {value!r}", "pad_rgb")
    return tuple(value)


def parse_num_heads(sidecar: dict, embed_dim: int) -> int:
    """Heads from the sidecar, else timm's 64-dimensional-head convention."""
    if "num_heads" in sidecar:
        heads = _positive_int(sidecar, "num_heads", sidecar["num_heads"])
    else:
        heads = HEADS_BY_WIDTH.get(embed_dim, embed_dim // 64 if embed_dim % 64 == 0 else 0)
        if not heads:
            _fail(sidecar, f"width {embed_dim} has no default head count: set 'num_heads'", "num_heads")
    if embed_dim % heads:
        _fail(sidecar, f"'num_heads' {heads} does not divide the model width {embed_dim}", "num_heads")
    return heads


def parse_gelu(sidecar: dict) -> str:
    """`"gelu": "tanh"` for models trained with the tanh approximation; exact erf otherwise."""
    gelu = sidecar.get("gelu", "erf")
    if gelu not in ("erf", "tanh"):
        _fail(sidecar, f"'gelu' must be \"erf\" (exact) or \"tanh\" (approximation), got {gelu!r}", "gelu")
    return gelu


def parse_rollout_start(sidecar: dict, depth: int) -> int:
    """`rollout_start_block` (1-based, as the user counts) -> 0-based; default block 1."""
    value = sidecar.get("rollout_start_block", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= depth:
        _fail(sidecar, f"'rollout_start_block' must be a block number 1..{depth}, got {value!r}", "rollout_start_block")
    return value - 1


#: the maps a sidecar may name as shown first (class evidence needs a model with classes)
DEFAULT_MAPS = ("rollout", "class")


def parse_default_map(sidecar: dict, has_classes: bool) -> str:
    """`default_map`: "rollout" unless the sidecar says "class" (and the model has classes)."""
    value = sidecar.get("default_map", "rollout")
    if value not in DEFAULT_MAPS:
        _fail(sidecar, f"'default_map' must be \"rollout\" or \"class\", got {value!r}", "default_map")
    return value if has_classes else "rollout"


def parse_precision(sidecar: dict) -> str:
    from vit_gui.model.precision import PRECISIONS

    value = sidecar.get("precision", "float32")
    if value not in PRECISIONS:
        _fail(sidecar, f"'precision' must be one of {', '.join(PRECISIONS)}, got {value!r}", "precision")
    return value


def parse_flag(sidecar: dict, key: str, default: bool) -> bool:
    value = sidecar.get(key, default)
    if not isinstance(value, bool):
        _fail(sidecar, f"'{key}' must be true or false, got {value!r}", key)
    return value


def parse_layer_norm_eps(sidecar: dict, default: float = 1e-6) -> float:
    eps = sidecar.get("layer_norm_eps", default)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        _fail(sidecar, f"'layer_norm_eps' must be a small positive number, got {eps!r}", "layer_norm_eps")
    return float(eps)


def parse_labels(sidecar: dict, num_classes: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(labels, warnings). Labels come inline (`labels`) or from a text file (`labels_file`,
    one name per line, relative to the sidecar). A count that does not match the model's
    classes is a warning, not a failure: the model still works, unnamed classes show as
    `class N`."""
    if "labels" in sidecar:
        labels = sidecar["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            _fail(sidecar, "'labels' must be a list of class names (strings)", "labels")
        origin = "'labels'"
    elif "labels_file" in sidecar:
        name = sidecar["labels_file"]
        if not isinstance(name, str):
            _fail(sidecar, f"'labels_file' must be a file name, got {name!r}", "labels_file")
        folder = Path(sidecar["_path"]).parent
        path = folder / name
        # a model file must not make the app read (and show) files elsewhere on this computer
        if Path(name).is_absolute() or not path.resolve().is_relative_to(folder.resolve()):
            _fail(sidecar, f"'labels_file' must name a file in the sidecar's own folder, got {name!r}", "labels_file")
        labels = read_labels_file(path)
        origin = f"labels file {path.name}"
    elif "id2label" in sidecar:
        return _labels_by_number(sidecar, num_classes)
    else:
        return (), ()
    labels = [x.strip() for x in labels]
    warnings = ()
    if len(labels) < num_classes:
        warnings = (
            f"{origin} has {_names(len(labels))} but the model has {num_classes} classes; "
            "classes without a name are shown as 'class N'",
        )
    elif len(labels) > num_classes:
        extra = len(labels) - num_classes
        warnings = (f"{origin} has {_names(len(labels))} but the model has {num_classes} classes; "
                    + (f"the name past class {num_classes - 1} is not used" if extra == 1 else
                       f"the {extra:,} names past class {num_classes - 1} are not used"),)
        labels = labels[:num_classes]
    return tuple(labels), warnings


def _names(count: int) -> str:
    return "1 name" if count == 1 else f"{count:,} names"


def _labels_by_number(sidecar: dict, num_classes: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Hugging Face's `id2label` ({number: name}, read by hf_config): names for the model's
    own classes only; numbers past them are a warning, never a list that long."""
    names = sidecar["id2label"]
    labels = tuple(names.get(i, "").strip() for i in range(num_classes))
    beyond = sorted(i for i in names if i >= num_classes)
    warnings = ()
    if beyond:
        warnings = (f"id2label names classes up to {beyond[-1]:,} but the model has {num_classes} classes; "
                    f"{_names(len(beyond))} past class {num_classes - 1} ignored",)
    elif len(names) < num_classes:
        warnings = (f"id2label has {_names(len(names))} but the model has {num_classes} classes; "
                    "classes without a name are shown as 'class N'",)
    return labels, warnings

"""A Hugging Face model folder read as one model: config.json and preprocessor_config.json
translated into the facts our sidecar carries.

`save_pretrained` and the hub write a folder with `config.json` (architecture, layer-norm
epsilon, class names), `preprocessor_config.json` (resize policy, mean, std) and the
weights (`model.safetensors` or `pytorch_model.bin`). Without this, such a folder would run
with the wrong epsilon (transformers' ViT uses 1e-12) and timm's crop instead of the plain
resize google/vit-base-patch16-224 was trained with.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from vit_gui.errors import ModelConfigError
from vit_gui.model.config import read_json_object

CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
MODEL_TYPES = ("vit", "deit", "dinov2", "dinov2_with_registers")
GELU_BY_ACT = {"gelu": "erf", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh"}
#: PIL's resampling filters by the numbers transformers saves.
RESAMPLE_BY_NUMBER = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG).is_file()


def weights_in(folder: Path) -> Path:
    """The weights file of a model folder, or ModelConfigError saying what is there instead."""
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    if any(folder.glob("*.index.json")):
        raise ModelConfigError(f"{folder.name}: the weights are split into shards, which vit-gui does not read; "
                               "save the model again with save_pretrained(..., max_shard_size='2GB') or larger")
    raise ModelConfigError(f"{folder.name}: a model folder needs {' or '.join(WEIGHT_NAMES)} beside {CONFIG}")


def sidecar_for(weights: Path) -> dict:
    """Sidecar facts from the Hugging Face config beside `weights`, or {} when there is none
    (or it describes something other than a ViT, e.g. an unrelated config.json)."""
    config_path = weights.parent / CONFIG
    if not config_path.is_file():
        return {}
    config = read_json_object(config_path)
    if config.get("model_type") not in MODEL_TYPES:
        return {}
    facts = {"_path": config_path, **_from_config(config, config_path, weights.parent)}
    preprocessor_path = weights.parent / PREPROCESSOR
    if preprocessor_path.is_file():
        facts.update(_from_preprocessor(read_json_object(preprocessor_path), preprocessor_path))
    return facts


def _fail(path: Path, message: str):
    raise ModelConfigError(f"{path.name}: {message}")


def _from_config(config: dict, path: Path, folder: Path) -> dict:
    facts = {"name": _model_name(config, folder), "source": str(config.get("_name_or_path") or folder)}
    if "num_attention_heads" in config:
        facts["num_heads"] = config["num_attention_heads"]
    if "layer_norm_eps" in config:
        facts["layer_norm_eps"] = config["layer_norm_eps"]
    act = config.get("hidden_act", "gelu")
    if act not in GELU_BY_ACT:
        _fail(path, f"hidden_act {act!r} is not a GELU; vit-gui runs ViTs with GELU "
                    f"({', '.join(GELU_BY_ACT)})")
    facts["gelu"] = GELU_BY_ACT[act]
    if config.get("use_swiglu_ffn"):
        _fail(path, "this DINOv2 uses a SwiGLU feed-forward (the giant model), which vit-gui does not run")
    if isinstance(config.get("image_size"), int):
        facts["input_size"] = config["image_size"]
    labels = _labels(config.get("id2label"), path)
    if labels:
        facts["labels"] = labels
    return facts


def _model_name(config: dict, folder: Path) -> str:
    name = str(config.get("_name_or_path") or "").rstrip("/")
    return name.rsplit("/", 1)[-1] if name and not name.startswith(("/", ".")) else folder.name


def _labels(id2label, path: Path) -> list[str]:
    """Class names in index order; transformers' placeholders (LABEL_0, ...) are no names."""
    if not isinstance(id2label, dict) or not id2label:
        return []
    try:
        indexed = {int(k): v for k, v in id2label.items()}
    except (TypeError, ValueError):
        _fail(path, "id2label must map class numbers to names")
    if not all(isinstance(v, str) for v in indexed.values()) or min(indexed) < 0:
        _fail(path, "id2label must map class numbers to names")
    if all(re.fullmatch(rf"LABEL_{i}", name) for i, name in indexed.items()):
        return []
    return [indexed.get(i, "") for i in range(max(indexed) + 1)]


def _size(value, path: Path, key: str) -> tuple[int, int] | int:
    """transformers' sizes: {"height", "width"}, {"shortest_edge"} or a bare number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return int(value["height"]), int(value["width"])
        if "shortest_edge" in value:
            return int(value["shortest_edge"])
    _fail(path, f"'{key}' {value!r} is not a size vit-gui understands")


def _from_preprocessor(prep: dict, path: Path) -> dict:
    """Resize policy, input size, interpolation, mean and std, as the processor applies them."""
    facts = {}
    if prep.get("do_normalize", True):
        for ours, theirs in (("mean", "image_mean"), ("std", "image_std")):
            if theirs in prep:
                facts[ours] = prep[theirs]
    else:
        facts["mean"], facts["std"] = [0.0] * 3, [1.0] * 3
    factor = prep.get("rescale_factor", 1 / 255) if prep.get("do_rescale", True) else 1.0
    if not isinstance(factor, (int, float)) or not math.isclose(factor, 1 / 255, rel_tol=1e-6):
        _fail(path, f"rescale_factor {factor!r}: vit-gui scales pixels by 1/255 only")
    if prep.get("resample") in RESAMPLE_BY_NUMBER:
        facts["interpolation"] = RESAMPLE_BY_NUMBER[prep["resample"]]
    if not prep.get("do_resize", True):
        return facts
    size = _size(prep.get("size", 224), path, "size")
    crop = _size(prep["crop_size"], path, "crop_size") if prep.get("do_center_crop") and "crop_size" in prep else None
    if isinstance(crop, int):
        crop = (crop, crop)
    if isinstance(size, tuple):  # squash to height x width (then perhaps centre-crop)
        facts["resize_mode"] = "resize"
        facts["input_size"] = list(crop or size)
        facts["crop_pct"] = crop[0] / size[0] if crop else 1.0
    else:  # shorter side to `size`, then centre-crop (timm's and torchvision's eval transform)
        crop = crop or (size, size)
        facts["resize_mode"] = "crop"
        facts["input_size"] = list(crop)
        facts["crop_pct"] = crop[0] / size
    return facts

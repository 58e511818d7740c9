"""A Hugging Face model folder read as one model: config.json and preprocessor_config.json
translated into the facts our sidecar carries.

`save_pretrained` and the hub write a folder with `config.json` (architecture, layer-norm
epsilon, class names), `preprocessor_config.json` (resize policy, mean, std) and the
weights (`model.safetensors` or `pytorch_model.bin`). Without this, such a folder would run
with the wrong epsilon (transformers' ViT uses 1e-12) and timm's crop instead of the plain
resize google/vit-base-patch16-224 was trained with.

These files come from anywhere: every value is checked here before it is used, and a bad
one becomes a ModelConfigError naming the file and the key (never a TypeError or a
ZeroDivisionError, never an allocation sized by a number in the file).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from vit_gui.errors import ModelConfigError
from vit_gui.model.json_file import read_json_object

CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
MODEL_TYPES = ("vit", "deit", "dinov2", "dinov2_with_registers")
GELU_BY_ACT = {"gelu": "erf", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh"}
#: PIL's resampling filters by the numbers transformers saves.
RESAMPLE_BY_NUMBER = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}
#: our fact -> the key it was read from, to name it in messages
THEIR_NAMES = {"num_heads": "num_attention_heads", "input_size": "image_size", "gelu": "hidden_act",
               "mean": "image_mean", "std": "image_std", "interpolation": "resample"}
MAX_SIDE = 4096  # as config.MAX_INPUT_SIDE: no ViT input is larger
MIN_CROP_SHARE = 0.1  # as config's bounds on crop_pct


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
    (or it describes something other than a ViT, e.g. an unrelated config.json).

    `_origins` maps each fact to the file it came from, so that a value found wrong later
    (config.parse_*) is blamed on the file the user has to edit."""
    config_path = weights.parent / CONFIG
    if not config_path.is_file():
        return {}
    config = read_json_object(config_path)
    if config.get("model_type") not in MODEL_TYPES:  # tuple membership: safe for any JSON value
        return {}
    facts = _checked(_from_config, config, config_path, weights.parent)
    origins = {key: (config_path, THEIR_NAMES.get(key, key)) for key in facts}
    preprocessor_path = weights.parent / PREPROCESSOR
    if preprocessor_path.is_file():
        prep = _checked(_from_preprocessor, read_json_object(preprocessor_path), preprocessor_path)
        facts.update(prep)
        origins.update({key: (preprocessor_path, THEIR_NAMES.get(key, key)) for key in prep})
        if "input_size" in prep:
            origins["input_size"] = (preprocessor_path, "size")
    return {"_path": config_path, "_origins": origins, **facts}


def _checked(reader, data: dict, path: Path, *more) -> dict:
    """Run a reader; any value it did not foresee still becomes a message naming the file."""
    try:
        return reader(data, path, *more)
    except (TypeError, ValueError, ArithmeticError, KeyError) as exc:
        raise ModelConfigError(f"{path.name}: a value vit-gui cannot use ({type(exc).__name__}: {exc})") from None


def _fail(path: Path, message: str):
    raise ModelConfigError(f"{path.name}: {message}")


def _from_config(config: dict, path: Path, folder: Path) -> dict:
    facts = {"name": _model_name(config, folder), "source": str(config.get("_name_or_path") or folder)[:500]}
    if "num_attention_heads" in config:
        facts["num_heads"] = config["num_attention_heads"]
    if "layer_norm_eps" in config:
        facts["layer_norm_eps"] = config["layer_norm_eps"]
    act = config.get("hidden_act", "gelu")
    if not isinstance(act, str) or act not in GELU_BY_ACT:
        _fail(path, f"'hidden_act' {_shown(act)} is not a GELU; vit-gui runs ViTs with GELU "
                    f"({', '.join(GELU_BY_ACT)})")
    facts["gelu"] = GELU_BY_ACT[act]
    if config.get("use_swiglu_ffn"):
        _fail(path, "this DINOv2 uses a SwiGLU feed-forward (the giant model), which vit-gui does not run")
    if "image_size" in config and not isinstance(config["image_size"], (list, dict)):
        facts["input_size"] = config["image_size"]  # checked by config.parse_preprocessing, blamed on this file
    names = _label_map(config.get("id2label"), path)
    if names:
        facts["id2label"] = names
    return facts


def _model_name(config: dict, folder: Path) -> str:
    name = str(config.get("_name_or_path") or "").rstrip("/")
    return name.rsplit("/", 1)[-1][:200] if name and not name.startswith(("/", ".")) else folder.name


def _label_map(id2label, path: Path) -> dict[int, str]:
    """Class names by class number, as given (sparse): the model's class count, not the
    largest number in the file, decides how many names are made (config.parse_labels). An
    86-byte file naming class 400,000,000 must not cost gigabytes. transformers'
    placeholders (LABEL_0, ...) are no names."""
    if not isinstance(id2label, dict) or not id2label:
        return {}
    names = {}
    for key, value in id2label.items():
        try:
            index = int(key)
        except ValueError:
            _fail(path, f"'id2label' must map class numbers to names, found the key {_shown(key)}")
        if index < 0 or not isinstance(value, str):
            _fail(path, f"'id2label' must map class numbers (0, 1, …) to names, found {_shown(key)}: {_shown(value)}")
        names[index] = value
    if all(re.fullmatch(rf"LABEL_{i}", name) for i, name in names.items()):
        return {}
    return names


def _shown(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _whole(value) -> int | None:
    """A JSON number that is a whole number (224 or 224.0), else None (null, "abc", Infinity, true)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _side(value, path: Path, where: str) -> int:
    side = _whole(value)
    if side is None or not 1 <= side <= MAX_SIDE:
        _fail(path, f"{where} must be a whole number of pixels from 1 to {MAX_SIDE}, got {_shown(value)}")
    return side


def _size(value, path: Path, key: str) -> tuple[int, int] | int:
    """transformers' sizes: {"height", "width"}, {"shortest_edge"} or a bare number; each side
    a whole number of pixels within what vit-gui runs."""
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return (_side(value["height"], path, f"'{key}' height"), _side(value["width"], path, f"'{key}' width"))
        if "shortest_edge" in value:
            return _side(value["shortest_edge"], path, f"'{key}' shortest_edge")
        _fail(path, f"'{key}' {_shown(value)} is not a size vit-gui understands "
                    "(a number, {\"height\", \"width\"} or {\"shortest_edge\"})")
    return _side(value, path, f"'{key}'")


def _switch(prep: dict, path: Path, key: str) -> bool:
    value = prep.get(key, True)
    if not isinstance(value, bool):
        _fail(path, f"'{key}' must be true or false, got {_shown(value)}")
    return value


def _from_preprocessor(prep: dict, path: Path) -> dict:
    """Resize policy, input size, interpolation, mean and std, as the processor applies them."""
    facts = {}
    if _switch(prep, path, "do_normalize"):
        for ours, theirs in (("mean", "image_mean"), ("std", "image_std")):
            if theirs in prep:
                facts[ours] = prep[theirs]  # checked by config.parse_preprocessing, blamed on this file
    else:
        facts["mean"], facts["std"] = [0.0] * 3, [1.0] * 3
    factor = prep.get("rescale_factor", 1 / 255) if _switch(prep, path, "do_rescale") else 1.0
    if (isinstance(factor, bool) or not isinstance(factor, (int, float))
            or not math.isclose(factor, 1 / 255, rel_tol=1e-6)):
        _fail(path, f"'rescale_factor' {_shown(factor)}: vit-gui scales pixels by 1/255 only")
    resample = prep.get("resample")
    if isinstance(resample, int) and not isinstance(resample, bool) and resample in RESAMPLE_BY_NUMBER:
        facts["interpolation"] = RESAMPLE_BY_NUMBER[resample]
    if not _switch(prep, path, "do_resize"):
        return facts
    size = _size(prep.get("size", 224), path, "size")
    cropping = _switch(prep, path, "do_center_crop") if "do_center_crop" in prep else False
    crop = _size(prep["crop_size"], path, "crop_size") if cropping and "crop_size" in prep else None
    if isinstance(crop, int):
        crop = (crop, crop)
    if isinstance(size, tuple):  # squash to height x width (then perhaps centre-crop)
        facts["resize_mode"] = "resize"
        crop = crop or size
        _check_crop(crop, size, path)
        facts["input_size"] = list(crop)
        facts["crop_pct"] = crop[0] / size[0]
    else:  # shorter side to `size`, then centre-crop (timm's and torchvision's eval transform)
        crop = crop or (size, size)
        _check_crop(crop, (size, size), path)
        facts["resize_mode"] = "crop"
        facts["input_size"] = list(crop)
        facts["crop_pct"] = crop[0] / size
    return facts


def _check_crop(crop: tuple[int, int], size: tuple[int, int], path: Path) -> None:
    """vit-gui crops inside the resized image, keeping at least a tenth of its side."""
    if crop[0] > size[0] or crop[1] > size[1]:
        _fail(path, f"'crop_size' {crop[0]}x{crop[1]} is larger than the resized image ('size' "
                    f"{size[0]}x{size[1]}); vit-gui crops inside the resized image")
    if crop[0] < MIN_CROP_SHARE * size[0]:
        _fail(path, f"'crop_size' {crop[0]}x{crop[1]} keeps less than a tenth of the resized image "
                    f"('size' {size[0]}x{size[1]})")

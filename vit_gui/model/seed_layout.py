"""Checkpoints trained with the seed project, bubbliiiing/classification-pytorch, opened as
they are: no sidecar to write.

Its training writes `logs/best_epoch_weights.pth`, `logs/last_epoch_weights.pth` and
`logs/ep001-loss0.123-val_loss0.456.pth`: bare state dicts whose ViT keys are timm's (its
`nets/vision_transformer.py` names them so), and its class names sit one per line in
`model_data/cls_classes.txt`. What the weights cannot say is fixed by its code, and
recorded here as sidecar facts:

- its ViT's GELU is the tanh approximation (its own `GELU` module), its LayerNorm eps 1e-6;
- its prediction (`classification.py`, `utils/utils.py`) resizes the shorter side to the
  input size with bilinear filtering (the longer side truncated), centre-crops, and
  normalises with ImageNet's mean and std;
- trained with `letterbox_image`, it instead fits the photo by bicubic filtering with the
  fitted size truncated, and pads with grey 128: a sidecar saying `"resize_mode":
  "letterbox"` selects that.

A checkpoint is taken for the seed's when its file name is one the seed writes, or when a
`cls_classes.txt` lies beside it or in the sibling `model_data/` folder. A sidecar of the
user's still overrides every fact, key by key.
"""

from __future__ import annotations

import re
from pathlib import Path

from vit_gui.errors import ModelConfigError
from vit_gui.model.labels_file import read_labels_file

SEED_NAMES = re.compile(r"^(best_epoch_weights|last_epoch_weights|ep\d{3}-loss[\d.]+-val_loss[\d.]+)\.pth$")
CLASSES_FILE = "cls_classes.txt"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def classes_file(weights: Path) -> Path | None:
    """The seed's class names: beside the weights, or in the sibling model_data/ folder."""
    for candidate in (weights.parent / CLASSES_FILE, weights.parent.parent / "model_data" / CLASSES_FILE):
        if candidate.is_file():
            return candidate
    return None


def is_seed_checkpoint(weights: Path) -> bool:
    return weights.suffix == ".pth" and (bool(SEED_NAMES.match(weights.name)) or classes_file(weights) is not None)


def seed_facts(weights: Path, own: dict) -> dict:
    """Sidecar facts for a seed checkpoint (given the user's own sidecar `own`), else {}."""
    weights = Path(weights)
    if not is_seed_checkpoint(weights):
        return {}
    facts = {"gelu": "tanh", "layer_norm_eps": 1e-6, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
             "crop_pct": 1.0, "resize_mode": "crop", "interpolation": "bilinear",
             "source": f"{weights.name}, trained with bubbliiiing/classification-pytorch"}
    if own.get("resize_mode") == "letterbox":  # its letterbox_image: bicubic, truncated size, grey 128
        facts.update(resize_mode="letterbox", interpolation="bicubic", pad_rgb=[128, 128, 128], letterbox_floor=True)
    names = classes_file(weights)
    if names is not None:
        try:
            facts["labels"] = read_labels_file(names)
        except ModelConfigError as exc:
            raise ModelConfigError(f"{names.parent.name}/{names.name}: {exc}") from None
        facts["name"] = f"{weights.parent.parent.name or weights.stem} ({weights.stem})"
    origins = {key: (names or weights) for key in facts}
    return {"_path": weights, "_origins": origins, **facts}

"""Which model files the app can offer: for now, the checkpoints shipped in `model_data/`."""

from __future__ import annotations

from pathlib import Path

from vit_gui.errors import NoModelError
from vit_gui.resources import model_data_dir

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def find_model_files(folder: Path | None = None) -> list[Path]:
    """Checkpoint files directly inside `folder` (default: the app's model_data/), sorted."""
    folder = folder or model_data_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES)


def default_model_path() -> Path:
    """The model used when none is named, or NoModelError saying how to get one."""
    found = find_model_files()
    if not found:
        raise NoModelError(
            f"no model is installed (nothing in {model_data_dir()}). Pass --model FILE with a ViT "
            "checkpoint (.pth/.pt/.safetensors, timm or Hugging Face layout), or put one in model_data/"
        )
    return found[0]

"""A taught classifier as an ordinary model file: the base ViT's weights with the new head,
as .safetensors plus its sidecar, written atomically into the user's models folder."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import torch

from vit_gui.fileio import atomic_write_text
from vit_gui.model import checkpoints
from vit_gui.model.catalog import user_models_dir


def safe_name(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return slug[:60] or "taught-model"


def save_taught_model(base_path: Path, base_info, base_digest: str, classes: list[str], probe, facts: dict,
                      name: str, folder: Path | None = None, tuned_state: dict | None = None,
                      file_stem: str | None = None) -> Path:
    """Write `<name>.safetensors` and its sidecar; returns the weights' path. An existing
    file of that name is not replaced: the next free name is taken. `tuned_state` (a
    fine-tuned model's weights, head included) replaces the base weights and the probe."""
    folder = Path(folder or user_models_dir())
    folder.mkdir(parents=True, exist_ok=True)
    base_stem = safe_name(file_stem or name)
    stem, n = base_stem, 1
    while (folder / f"{stem}.safetensors").exists() or (folder / f"{stem}.safetensors.json").exists():
        n += 1
        stem = f"{base_stem}-{n}"
    path = folder / f"{stem}.safetensors"
    state = dict(tuned_state) if tuned_state is not None else probe_classifier_state(Path(base_path), base_info, probe)
    prep, arch = base_info.preprocessing, base_info.architecture
    sidecar = {
        "name": name,
        "labels": classes,
        "num_heads": arch.num_heads,
        "layer_norm_eps": arch.layer_norm_eps,
        "gelu": arch.gelu,
        "pos_embed_antialias": arch.pos_embed_antialias,
        "input_size": list(prep.input_size),
        "mean": list(prep.mean),
        "std": list(prep.std),
        "crop_pct": prep.crop_pct,
        "interpolation": prep.interpolation,
        "resize_mode": prep.resize_mode,
        "rollout_start_block": base_info.rollout_start_block + 1,
        "source": f"{base_info.name}, taught new classes with vit-gui",
        "license": base_info.license,
        "taught": {
            "base_model": base_info.name,
            "base_file": str(base_path),
            "base_sha256": base_digest,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **facts,
        },
    }
    if arch.grid[0] != arch.grid[1]:
        sidecar["grid"] = list(arch.grid)
    atomic_write_text(path.with_name(path.name + ".json"), json.dumps(sidecar, indent=1, ensure_ascii=False))
    checkpoints.write_safetensors(path, state, {"format": "pt"})
    return path


def probe_classifier_state(base_path: Path, base_info, probe) -> dict:
    """The base checkpoint's tensors (our names) with the probe as its head, any old head
    (and distillation head) dropped: what the saved model and fine-tuning start from."""
    arch = base_info.architecture
    facts = {"num_heads": arch.num_heads, "layer_norm_eps": arch.layer_norm_eps, "gelu": arch.gelu,
             "pos_embed_antialias": arch.pos_embed_antialias, "grid": list(arch.grid)}
    state, _, _ = checkpoints.read_checkpoint(checkpoints.model_weights(base_path), facts)
    state = {k: v for k, v in state.items() if not k.startswith(("head.", "head_dist."))}
    state["head.weight"] = torch.from_numpy(probe.weight).float()
    state["head.bias"] = torch.from_numpy(probe.bias).float()
    return state

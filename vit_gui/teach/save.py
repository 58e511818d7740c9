"""A taught classifier as an ordinary model file: the base ViT's weights with the new head,
as .safetensors plus its sidecar in the user's models folder; or, before the user saves
it, the same model in memory (its report's maps need no temporary file).

Saving never loses or half-writes a model: both files are written whole under hidden
temporary names first, then the name is claimed atomically (a hard link, which fails if
the name exists; an exclusive create where links are not supported), weights before
sidecar. Two saves under one name at once get two names; a failure leaves nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import torch

from vit_gui.fileio import claim_name
from vit_gui.model import checkpoints
from vit_gui.model.catalog import user_models_dir
from vit_gui.model.safetensors_io import safetensors_bytes

LAYOUT = "vit-gui taught"


def safe_name(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return slug[:60] or "taught-model"


def taught_sidecar(base_path: Path, base_info, base_digest: str, classes: list[str], facts: dict, name: str) -> dict:
    """The saved model's facts: the base model's preprocessing and shape, the new classes,
    and how they were taught."""
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
        # class evidence found a planted logo that decided a taught probe better than the
        # rollout did (benchmarks/results/planted-checks.md): shown first for taught models
        "default_map": "class",
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
    return sidecar


def taught_model(base_path: Path, base_info, probe, sidecar: dict, tuned_state: dict | None = None):
    """The taught classifier in memory (a LoadedModel), as the saved file would load."""
    state = dict(tuned_state) if tuned_state is not None else probe_classifier_state(Path(base_path), base_info, probe)
    arch = checkpoints.infer_architecture(state, sidecar)
    return checkpoints.model_from_state(state, arch, sidecar, Path(f"{safe_name(sidecar['name'])}.safetensors"),
                                        LAYOUT)


def save_taught_model(base_path: Path, base_info, base_digest: str, classes: list[str], probe, facts: dict,
                      name: str, folder: Path | None = None, tuned_state: dict | None = None,
                      file_stem: str | None = None) -> Path:
    """Write `<name>.safetensors` and its sidecar; returns the weights' path. An existing
    model of that name (or a sidecar without weights) is not replaced: the next free name
    is taken. `tuned_state` (a fine-tuned model's weights, head included) replaces the base
    weights and the probe."""
    folder = Path(folder or user_models_dir())
    folder.mkdir(parents=True, exist_ok=True)
    state = dict(tuned_state) if tuned_state is not None else probe_classifier_state(Path(base_path), base_info, probe)
    sidecar = taught_sidecar(Path(base_path), base_info, base_digest, classes, facts, name)
    weights = safetensors_bytes(state, {"format": "pt"})
    del state
    return claim_and_write(folder, safe_name(file_stem or name), weights,
                           json.dumps(sidecar, indent=1, ensure_ascii=False).encode("utf-8"))


def claim_and_write(folder: Path, stem: str, weights: bytes, sidecar: bytes) -> Path:
    """`<stem>.safetensors` and `<stem>.safetensors.json` (else `<stem>-2`, …), each whole
    or not at all."""
    staged = [_staged(folder, stem, data) for data in (weights, sidecar)]
    try:
        for n in range(1, 10_000):
            candidate = folder / (f"{stem}.safetensors" if n == 1 else f"{stem}-{n}.safetensors")
            side = candidate.with_name(candidate.name + ".json")
            if os.path.lexists(side) or not claim_name(staged[0], candidate):
                continue  # taken: by another model, another save at this moment, or an orphan sidecar
            try:
                if claim_name(staged[1], side):
                    return candidate
                _release(candidate, staged[0])  # its sidecar's name was taken meanwhile: try the next name
            except BaseException:
                candidate.unlink(missing_ok=True)
                raise
        raise FileExistsError(errno.EEXIST, f"no free name for {stem} in {folder}")
    finally:
        for path in staged:
            path.unlink(missing_ok=True)


def _staged(folder: Path, stem: str, data: bytes) -> Path:
    """`data` in a hidden file of the destination folder, on disk (fsync), readable as a
    model file should be."""
    from vit_gui.fileio import UMASK

    fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(name, 0o666 & ~UMASK)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _release(claimed: Path, staged: Path) -> None:
    """Give a claimed name back, keeping the staged bytes for the next name."""
    if staged.exists():  # claimed by a link: the staged file is still there
        claimed.unlink()
    else:  # claimed by renaming the staged file
        os.replace(claimed, staged)


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

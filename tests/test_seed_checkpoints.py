"""Checkpoints of the seed project (bubbliiiing/classification-pytorch) open as they are: its
file names and folders, its class names file, its tanh GELU and its own preprocessing,
checked against a re-derivation of the seed's prediction pipeline (written out below from
its classification.py and utils/utils.py) and transformers' ViT with the same GELU."""

import json

import numpy as np
import pytest
import torch
from conftest import make_hf_vit
from PIL import Image

from vit_gui.cli import main
from vit_gui.model.checkpoints import load_model
from vit_gui.model.layouts import find_layout
from vit_gui.predict import Predictor

CLASSES = ["cat", "dog", "cup", "rocket"]
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def seed_input(image: Image.Image, size: int = 224, letterbox: bool = False) -> torch.Tensor:
    """The seed's detect_image input: letterbox_image() then preprocess_input(), re-derived."""
    image = image.convert("RGB")
    if letterbox:  # bicubic, sizes truncated, grey 128, centred with floor division
        iw, ih = image.size
        scale = min(size / iw, size / ih)
        nw, nh = int(iw * scale), int(ih * scale)
        canvas = Image.new("RGB", (size, size), (128, 128, 128))
        canvas.paste(image.resize((nw, nh), Image.BICUBIC), ((size - nw) // 2, (size - nh) // 2))
    else:  # shorter side to `size` (bilinear, longer side truncated), then a centre crop
        w, h = image.size
        ow, oh = (size, int(size * h / w)) if w < h else (int(size * w / h), size)
        resized = image.resize((ow, oh), Image.BILINEAR)
        top, left = int(round((oh - size) / 2.0)), int(round((ow - size) / 2.0))
        canvas = resized.crop((left, top, left + size, top + size))
    array = (np.asarray(canvas, np.float32) / 255 - MEAN) / STD
    return torch.from_numpy(array.transpose(2, 0, 1).astype(np.float32))[None]


@pytest.fixture(scope="module")
def seed_model():
    """transformers' ViT with the seed's GELU (tanh) and epsilon (1e-6): the reference."""
    from transformers import ViTConfig, ViTForImageClassification

    model = make_hf_vit("ViT-Ti/16", depth=2, num_labels=len(CLASSES), scale=2.0, seed=7)
    config = ViTConfig(**{**model.config.to_dict(), "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6})
    reference = ViTForImageClassification(config).eval()
    reference.load_state_dict(model.state_dict())
    return reference


def seed_project(root, reference, name="best_epoch_weights.pth", classes_beside=False):
    """The seed's layout: <root>/logs/<name> (a bare state dict, torch.save(model.state_dict())),
    <root>/model_data/cls_classes.txt (or beside the weights)."""
    hf_state = {k: v.clone() for k, v in reference.state_dict().items()}
    state = find_layout(hf_state).convert(hf_state)  # timm's names: the seed's
    (root / "logs").mkdir(parents=True)
    torch.save(state, root / "logs" / name)
    names = root / "logs" / "cls_classes.txt" if classes_beside else root / "model_data" / "cls_classes.txt"
    names.parent.mkdir(exist_ok=True)
    names.write_text("\n".join(CLASSES) + "\n")
    return root / "logs" / name


def test_the_seeds_names_are_ordinary_timm_keys():
    expected = {"patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight",
                "blocks.0.attn.proj.weight", "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight", "norm.weight",
                "head.weight"}
    reference = make_hf_vit("ViT-Ti/16", depth=1, num_labels=2)
    state = find_layout(reference.state_dict()).convert(reference.state_dict())
    assert expected <= set(state)


@pytest.mark.parametrize("name", ["best_epoch_weights.pth", "last_epoch_weights.pth",
                                  "ep015-loss0.231-val_loss0.198.pth"])
def test_a_seed_checkpoint_opens_with_its_classes_gelu_and_preprocessing(tmp_path, seed_model, photos, name):
    path = seed_project(tmp_path / "project", seed_model, name)
    info = load_model(path).info
    assert info.labels == tuple(CLASSES) and info.architecture.gelu == "tanh"
    assert info.architecture.layer_norm_eps == 1e-6
    prep = info.preprocessing
    assert (prep.resize_mode, prep.interpolation, prep.crop_pct, prep.input_size) == ("crop", "bilinear", 1.0, (224, 224))
    predictor = Predictor.from_file(path)
    for photo in ("chelsea", "astronaut"):  # wide, and square
        image = Image.fromarray(photos[photo])
        ours, _ = predictor.prepare([image])
        theirs = seed_input(image)
        assert (ours - theirs).abs().mean() < 1e-3 and (ours - theirs).abs().max() < 0.05  # 8-bit rounding at most
        with torch.no_grad():
            expected = torch.softmax(seed_model(pixel_values=theirs).logits, dim=-1)[0].numpy()
        got = predictor.predict([image], top_k=4)[0]
        np.testing.assert_allclose(got.probs, expected, atol=2e-3)
        assert got.top[0].label == CLASSES[int(expected.argmax())]


def test_a_seed_checkpoint_trained_with_letterbox_image_needs_one_word(tmp_path, seed_model, photos):
    path = seed_project(tmp_path / "project", seed_model)
    path.with_name(path.name + ".json").write_text(json.dumps({"resize_mode": "letterbox"}))
    predictor = Predictor.from_file(path)
    prep = predictor.info.preprocessing
    assert (prep.pad_rgb, prep.letterbox_floor, prep.interpolation) == ((128, 128, 128), True, "bicubic")
    image = Image.fromarray(photos["rocket"])  # tall: grey bands left and right
    ours, _ = predictor.prepare([image])
    theirs = seed_input(image, letterbox=True)
    assert (ours - theirs).abs().max() < 1e-5
    with torch.no_grad():
        expected = torch.softmax(seed_model(pixel_values=theirs).logits, dim=-1)[0].numpy()
    np.testing.assert_allclose(predictor.predict([image])[0].probs, expected, atol=1e-4)


def test_classes_beside_the_weights_and_the_cli_and_the_window(tmp_path, seed_model, photo_folder, capsys, qtbot):
    path = seed_project(tmp_path / "project", seed_model, "mine.pth", classes_beside=True)
    code = main(["classify", str(photo_folder / "coffee.png"), "--model", str(path)])
    record = json.loads(capsys.readouterr()[0])[0]
    assert code == 0 and record["top"][0]["label"] in CLASSES
    from gui_helpers import make_window

    window = make_window(qtbot, tmp_path / "s.ini", path)  # Add model file…, no sidecar written
    assert window.models.info.labels == tuple(CLASSES) and window.models.info.architecture.gelu == "tanh"
    assert not list(path.parent.glob("*.json"))
    window.close()


def test_an_ordinary_pth_elsewhere_is_not_taken_for_the_seeds(tmp_path, seed_model):
    hf_state = {k: v.clone() for k, v in seed_model.state_dict().items()}
    torch.save(find_layout(hf_state).convert(hf_state), tmp_path / "model.pth")
    info = load_model(tmp_path / "model.pth").info
    assert info.architecture.gelu == "erf" and info.preprocessing.interpolation == "bicubic" and not info.labels

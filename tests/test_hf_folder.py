"""A Hugging Face model folder (config.json, preprocessor_config.json, model.safetensors, as
`save_pretrained` writes it) is read as one model, checked against transformers' own
processor and model on a real photo."""

import json

import numpy as np
import pytest
import torch
from conftest import make_hf_vit
from PIL import Image
from test_families import dinov2

from vit_gui.errors import CheckpointError, ModelConfigError
from vit_gui.model.catalog import discover_models
from vit_gui.model.checkpoints import load_model
from vit_gui.predict import Predictor
from vit_gui.preprocess import preprocess

NAMES = ["tabby cat", "coffee mug", "rocket", "astronaut", "a class with a long name, and a comma"]


def pil_processor(kind, **kwargs):
    """transformers' PIL image processors (the default ones need torchvision, absent here)."""
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    return {"vit": ViTImageProcessorPil, "bit": BitImageProcessorPil}[kind](**kwargs)


@pytest.fixture(scope="module")
def google_style(tmp_path_factory):
    """Like google/vit-base-patch16-224: squash to 64x64 bilinear, mean/std 0.5, eps 1e-12."""
    model = make_hf_vit("ViT-Ti/16", depth=3, image_size=64, num_labels=len(NAMES), scale=3.0)
    model.config.id2label = dict(enumerate(NAMES))
    model.config.label2id = {n: i for i, n in enumerate(NAMES)}
    folder = tmp_path_factory.mktemp("hub") / "vit-tiny-demo"
    model.save_pretrained(folder)
    processor = pil_processor("vit", size={"height": 64, "width": 64}, resample=2)
    processor.save_pretrained(folder)
    return folder, model, processor


def test_folder_is_one_model_with_the_configs_facts(google_style):
    folder, _, _ = google_style
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.json.json"))
    info = load_model(folder).info
    assert info.architecture.layer_norm_eps == 1e-12  # transformers' ViT default, not timm's 1e-6
    assert info.labels == tuple(NAMES)
    prep = info.preprocessing
    assert (prep.resize_mode, prep.input_size, prep.interpolation, prep.crop_pct) == ("resize", (64, 64), "bilinear", 1.0)
    assert prep.mean == (0.5, 0.5, 0.5) and info.name == "vit-tiny-demo"


def test_folder_matches_transformers_processor_and_model_on_a_photo(google_style, photos):
    folder, model, processor = google_style
    image = Image.fromarray(photos["chelsea"])  # 451 x 300: the squash changes its aspect
    theirs = torch.from_numpy(np.asarray(processor(image, return_tensors="np")["pixel_values"]))
    ours, geometry = preprocess(image, load_model(folder).info.preprocessing)
    assert torch.allclose(ours, theirs[0], atol=1e-5)
    assert geometry.box == (0.0, 0.0, 451.0, 300.0)  # the map covers the whole photo
    with torch.no_grad():
        expected = model(pixel_values=theirs).logits.softmax(-1)[0].numpy()
    got = Predictor.from_file(folder).predict([image], top_k=5)[0]
    assert np.allclose(got.probs, expected, atol=1e-5)
    assert got.top[0].label == NAMES[int(expected.argmax())]


def test_same_weights_without_the_config_get_timms_defaults(google_style, tmp_path):
    """The control: the config is what changes epsilon and resizing."""
    folder, _, _ = google_style
    alone = tmp_path / "alone.safetensors"
    alone.write_bytes((folder / "model.safetensors").read_bytes())
    info = load_model(alone).info
    assert info.preprocessing.resize_mode == "crop" and info.labels == ()
    assert info.architecture.layer_norm_eps == 1e-12  # the HF layout's own default


def test_dinov2_folder_crops_like_its_processor(tmp_path, photos):
    """DINOv2's processor: shorter side to 73 (bicubic), centre crop 64, ImageNet mean/std."""
    model = dinov2()
    model.save_pretrained(tmp_path)
    processor = pil_processor("bit", size={"shortest_edge": 73}, crop_size={"height": 64, "width": 64},
                              image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    processor.save_pretrained(tmp_path)
    info = load_model(tmp_path).info
    assert info.architecture.is_backbone and info.labels == ()  # LABEL_0, LABEL_1 are no names
    assert (info.preprocessing.resize_mode, info.preprocessing.input_size) == ("crop", (64, 64))
    assert info.architecture.layer_norm_eps == model.config.layer_norm_eps
    image = Image.fromarray(photos["coffee"])
    theirs = torch.from_numpy(np.asarray(processor(image, return_tensors="np")["pixel_values"]))
    ours, _ = preprocess(image, info.preprocessing)
    assert torch.allclose(ours, theirs[0], atol=1e-4)
    with torch.no_grad():
        expected = model(pixel_values=theirs, output_attentions=True).attentions[-1][0, :, 0, 1:].numpy()
    got = Predictor.from_file(tmp_path).predict([image], with_attentions=True)[0]
    assert got.top == [] and np.allclose(got.attentions[-1][:, 0, 1:], expected, atol=1e-5)


def test_catalogue_lists_a_model_folder_once(google_style):
    folder, _, _ = google_style
    entries = [e for e in discover_models(added=[folder]) if e.path == folder]
    assert [(e.name, e.origin) for e in entries] == [("vit-tiny-demo", "added")]


def test_our_sidecar_overrides_the_config(google_style, tmp_path):
    folder, _, _ = google_style
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "preprocessor_config.json", "model.safetensors"):
        (copy / name).write_bytes((folder / name).read_bytes())
    (copy / "model.safetensors.json").write_text(json.dumps({"name": "mine", "resize_mode": "letterbox"}))
    info = load_model(copy).info
    assert (info.name, info.preprocessing.resize_mode, info.labels) == ("mine", "letterbox", tuple(NAMES))


def test_unrelated_config_beside_a_checkpoint_is_ignored(tiny_checkpoint):
    (tiny_checkpoint.parent / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_act": "relu"}))
    assert load_model(tiny_checkpoint).info.name == "tiny"


@pytest.mark.parametrize("change, message", [
    ({"hidden_act": "relu"}, "'hidden_act' 'relu' is not a GELU"),
    ({"use_swiglu_ffn": True}, "SwiGLU"),
    ({"id2label": {"zero": "cat"}}, "'id2label' must map class numbers"),
])
def test_config_it_cannot_run_is_refused_by_name(google_style, tmp_path, change, message):
    folder, _, _ = google_style
    config = {**json.loads((folder / "config.json").read_text()), **change}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ModelConfigError, match=message):
        load_model(tmp_path)


def test_folder_without_weights_or_config_says_what_is_missing(tmp_path):
    with pytest.raises(CheckpointError, match="without a config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    (tmp_path / "model.safetensors.index.json").write_text("{}")
    with pytest.raises(ModelConfigError, match="split into shards"):
        load_model(tmp_path)

"""The modern ViT family against transformers on the same (random) weights: DINOv2 with
LayerScale and patch 14, DINOv2 with registers, distilled DeiT, tanh GELU and backbones.

Random weights are scaled up so attention is peaked and the comparisons mean something.
The real DINOv2 backbone is checked in tests/test_real_backbone.py.
"""

import json

import numpy as np
import pytest
import torch

from vit_gui.model.checkpoints import load_model
from vit_gui.predict import Predictor

SMALL = dict(hidden_size=96, num_hidden_layers=3, num_attention_heads=4, intermediate_size=384)


def peaked(model, scale=3.0):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2 and "embeddings" not in name:
                p.mul_(scale * (2 if ("q_proj" in name or "k_proj" in name) else 1))
    return model.eval()


def dinov2(registers=0, seed=0):
    from transformers import Dinov2Config, Dinov2Model, Dinov2WithRegistersConfig, Dinov2WithRegistersModel

    torch.manual_seed(seed)
    common = dict(image_size=126, patch_size=14, layerscale_value=0.5, attn_implementation="eager", **SMALL)
    if registers:
        model = Dinov2WithRegistersModel(Dinov2WithRegistersConfig(num_register_tokens=registers, **common))
    else:
        model = Dinov2Model(Dinov2Config(**common))
    with torch.no_grad():  # LayerScale gammas differ per channel, as trained ones do
        for name, p in model.named_parameters():
            if "lambda1" in name:
                p.copy_(torch.rand_like(p) + 0.2)
            if "position_embeddings" in name or "register_tokens" in name:
                p.normal_(0, 0.5)
    return peaked(model)


V5_TO_CLASSIC = {".attention.q_proj.": ".attention.attention.query.", ".attention.k_proj.": ".attention.attention.key.",
                 ".attention.v_proj.": ".attention.attention.value.", ".attention.o_proj.": ".attention.output.dense."}


def renamed(state, renames):
    """A state dict with each name part in `renames` replaced (Dinov2's two name styles)."""
    out = {}
    for key, value in state.items():
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def save(tmp_path, state, name="model.pth", sidecar=None):
    path = tmp_path / name
    torch.save(state, path)
    if sidecar:
        (tmp_path / f"{name}.json").write_text(json.dumps(sidecar))
    return path


def compare(ours, reference, pixels, prefix):
    """Our features and attentions against a transformers model's last hidden state and attentions."""
    with torch.no_grad():
        ref = reference(pixel_values=pixels, output_attentions=True)
        out = ours(pixels, return_attention=True)
    torch.testing.assert_close(out.features, ref.last_hidden_state[:, 0], atol=1e-4, rtol=0)
    assert len(out.attentions) == len(ref.attentions)
    for mine, theirs in zip(out.attentions, ref.attentions):
        assert mine.shape == theirs.shape
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)
    tokens = ref.attentions[-1].shape[-1]
    assert ref.attentions[-1][:, :, 0].max() > 10 / tokens, "attention is near-uniform: the comparison would be weak"
    assert ours.num_prefix_tokens == prefix


@pytest.mark.parametrize("size", [(224, 224), (168, 252)], ids=["square", "non-square"])
@pytest.mark.parametrize("names", ["v5", "classic"])
def test_dinov2_backbone_matches_transformers(tmp_path, size, names):
    hf = dinov2()
    state = hf.state_dict() if names == "v5" else renamed(hf.state_dict(), V5_TO_CLASSIC)
    loaded = load_model(save(tmp_path, state, sidecar={"num_heads": 4}))
    arch = loaded.info.architecture
    assert (arch.layer_scale, arch.patch_size, arch.grid, arch.is_backbone, loaded.info.layout) == (
        True, 14, (9, 9), True, "hf-dinov2")
    compare(loaded.model, hf, torch.randn(2, 3, *size), prefix=1)


@pytest.mark.parametrize("size", [(224, 224), (168, 252)], ids=["square", "non-square"])
def test_dinov2_with_registers_matches_transformers(tmp_path, size):
    hf = dinov2(registers=4, seed=1)
    loaded = load_model(save(tmp_path, hf.state_dict(), sidecar={"num_heads": 4}))
    arch = loaded.info.architecture
    assert (arch.num_reg_tokens, arch.prefix_pos_tokens, arch.num_prefix_tokens) == (4, 1, 5)
    compare(loaded.model, hf, torch.randn(2, 3, *size), prefix=5)


def test_timm_register_layout_without_class_position_loads_the_same_model(tmp_path):
    """timm's DINOv2-with-registers checkpoints fold the class token's position embedding into
    the token itself (`no_embed_class`): the same model, written that way, gives the same output."""
    hf = dinov2(registers=4, seed=2)
    ours = load_model(save(tmp_path, hf.state_dict(), sidecar={"num_heads": 4})).model
    timm_state = {k: v.clone() for k, v in ours.state_dict().items()}
    timm_state["cls_token"] = timm_state["cls_token"] + timm_state["pos_embed"][:, :1]
    timm_state["pos_embed"] = timm_state["pos_embed"][:, 1:]
    sidecar = {"num_heads": 4, "pos_embed_antialias": True}  # as timm resamples
    folder = tmp_path / "timm"
    folder.mkdir()
    loaded = load_model(save(folder, timm_state, sidecar=sidecar))
    assert (loaded.info.layout, loaded.info.architecture.prefix_pos_tokens) == ("timm", 0)
    compare(loaded.model, hf, torch.randn(1, 3, 154, 210), prefix=5)


def test_distilled_deit_matches_transformers(tmp_path):
    from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher

    torch.manual_seed(3)
    hf = peaked(DeiTForImageClassificationWithTeacher(DeiTConfig(
        image_size=64, patch_size=16, num_labels=7, attn_implementation="eager", **SMALL)), scale=2.0)
    loaded = load_model(save(tmp_path, hf.state_dict(), sidecar={"num_heads": 4}))
    arch = loaded.info.architecture
    assert (arch.dist_token, arch.dist_head, arch.prefix_pos_tokens, arch.num_classes) == (True, True, 2, 7)
    pixels = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        ref = hf(pixel_values=pixels, output_attentions=True, interpolate_pos_encoding=True)
        out = loaded.model(pixels, return_attention=True)
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-4, rtol=0)  # the mean of both heads
    for mine, theirs in zip(out.attentions, ref.attentions):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=0)
    assert (ref.cls_logits - ref.distillation_logits).abs().max() > 0.1, "the two heads must disagree for this to test the mean"


def test_tanh_gelu_is_a_sidecar_option(tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(4)
    hf = peaked(ViTForImageClassification(ViTConfig(
        image_size=64, patch_size=16, num_labels=5, hidden_act="gelu_pytorch_tanh", attn_implementation="eager",
        **SMALL)), scale=2.0)
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = hf(pixel_values=pixels).logits
        exact = load_model(save(tmp_path, hf.state_dict(), sidecar={"num_heads": 4})).model(pixels).logits
        tanh = load_model(save(tmp_path, hf.state_dict(), "tanh.pth", {"num_heads": 4, "gelu": "tanh"})).model(pixels).logits
    torch.testing.assert_close(tanh, ref, atol=1e-4, rtol=0)
    assert (exact - ref).abs().max() > 1e-4, "erf and tanh GELU must differ here for the option to matter"


def test_a_backbone_predicts_features_and_maps_but_no_classes(tmp_path, photos):
    from PIL import Image

    from vit_gui.explain.maps import MapSpec

    hf = dinov2(registers=4, seed=5)
    predictor = Predictor.from_file(save(tmp_path, hf.state_dict(), sidecar={"num_heads": 4, "input_size": 126}))
    (prediction,) = predictor.predict([Image.fromarray(photos["chelsea"])], top_k=5, with_attentions=True)
    assert prediction.top == [] and prediction.probs is None
    assert prediction.features.shape == (96,) and np.isfinite(prediction.features).all()
    assert prediction.map().shape == (9, 9)
    assert prediction.map(MapSpec("head", block=2, head=3)).shape == (9, 9)
    assert 0.0 < prediction.extra_token_share() < 1.0
    with pytest.raises(ValueError, match="no classes"):
        predictor.class_map(Image.fromarray(photos["chelsea"]), 0)


@pytest.mark.parametrize("registers", [0, 4])
def test_dinov2_image_classification_head_reads_class_token_and_patch_mean(tmp_path, registers):
    """Dinov2ForImageClassification's head reads [class token, mean of the patch tokens]
    (registers left out); refused before, now a head of its own kind."""
    from transformers import (
        Dinov2Config,
        Dinov2ForImageClassification,
        Dinov2WithRegistersConfig,
        Dinov2WithRegistersForImageClassification,
    )

    torch.manual_seed(6 + registers)
    common = dict(image_size=126, patch_size=14, layerscale_value=0.5, num_labels=5, attn_implementation="eager",
                  **SMALL)
    if registers:
        hf = Dinov2WithRegistersForImageClassification(Dinov2WithRegistersConfig(num_register_tokens=registers, **common))
    else:
        hf = Dinov2ForImageClassification(Dinov2Config(**common))
    hf = peaked(hf, scale=2.0)
    loaded = load_model(save(tmp_path, hf.state_dict(), sidecar={"num_heads": 4}))
    assert loaded.info.architecture.head_input == "cls+mean" and loaded.info.architecture.num_classes == 5
    pixels = torch.randn(2, 3, 126, 98)
    with torch.no_grad():
        ref = hf(pixel_values=pixels).logits
        out = loaded.model(pixels).logits
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)

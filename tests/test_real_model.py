"""Real pretrained checkpoints from ../shared/models, where that folder has any.

Each must give sensible ImageNet classes for scikit-image's real photos, and the same
classes and probabilities as Hugging Face transformers' ViTForImageClassification with
the same weights and the same preprocessed input.
"""

from pathlib import Path

import pytest
import torch
from PIL import Image

from vit_gui.model.catalog import WEIGHT_SUFFIXES
from vit_gui.predict import Predictor

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
REAL_MODELS = sorted(p for p in SHARED_MODELS.glob("*") if p.suffix in WEIGHT_SUFFIXES) if SHARED_MODELS.is_dir() else []
EXPECTED = {  # ImageNet-1k indices a sensible classifier puts in its top 5
    "chelsea": {281, 282, 283, 284, 285},  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee": {967, 968, 504},  # espresso, cup, coffee mug
    "rocket": {812, 657, 744},  # space shuttle, missile, projectile
}

pytestmark = pytest.mark.skipif(
    not REAL_MODELS, reason=f"no real pretrained checkpoint in {SHARED_MODELS} (see its README)"
)


def to_transformers(predictor):
    """The same weights in a transformers ViTForImageClassification (eager attention)."""
    from transformers import ViTConfig, ViTForImageClassification

    arch = predictor.info.architecture
    config = ViTConfig(
        hidden_size=arch.embed_dim, num_hidden_layers=arch.depth, num_attention_heads=arch.num_heads,
        intermediate_size=arch.mlp_hidden, image_size=arch.grid[0] * arch.patch_size, patch_size=arch.patch_size,
        num_labels=arch.num_classes, layer_norm_eps=arch.layer_norm_eps, qkv_bias=arch.qkv_bias,
        attn_implementation="eager",
    )
    hf = ViTForImageClassification(config).eval()
    ours = {k: v.cpu() for k, v in predictor.model.state_dict().items()}
    state = {
        "vit.embeddings.cls_token": ours["cls_token"],
        "vit.embeddings.position_embeddings": ours["pos_embed"],
        "vit.embeddings.patch_embeddings.projection.weight": ours["patch_embed.proj.weight"],
        "vit.embeddings.patch_embeddings.projection.bias": ours["patch_embed.proj.bias"],
        "vit.layernorm.weight": ours["norm.weight"], "vit.layernorm.bias": ours["norm.bias"],
        "classifier.weight": ours["head.weight"], "classifier.bias": ours["head.bias"],
    }
    for i in range(arch.depth):
        b, h = f"blocks.{i}.", f"vit.layers.{i}."
        for name, value in zip("qkv", ours[b + "attn.qkv.weight"].chunk(3)):
            state[f"{h}attention.{name}_proj.weight"] = value
        if arch.qkv_bias:
            for name, value in zip("qkv", ours[b + "attn.qkv.bias"].chunk(3)):
                state[f"{h}attention.{name}_proj.bias"] = value
        for src, dst in (("attn.proj", "attention.o_proj"), ("norm1", "layernorm_before"),
                         ("norm2", "layernorm_after"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            for p in ("weight", "bias"):
                state[f"{h}{dst}.{p}"] = ours[f"{b}{src}.{p}"]
    hf.load_state_dict(state, strict=True)
    return hf


@pytest.mark.parametrize("weights", REAL_MODELS, ids=lambda p: p.name)
def test_real_model_classifies_real_photos_like_transformers(weights, photos):
    predictor = Predictor.from_file(weights)
    hf = to_transformers(predictor)
    names = list(EXPECTED)
    images = [Image.fromarray(photos[n]) for n in names]
    results = predictor.predict(images, top_k=5)
    pixels, _ = predictor.prepare(images)
    with torch.no_grad():
        ref = torch.softmax(hf(pixel_values=pixels).logits, -1)
    for name, result, probs in zip(names, results, ref):
        values, indices = probs.topk(5)
        assert [t.index for t in result.top] == indices.tolist(), name
        assert [t.prob for t in result.top] == pytest.approx(values.tolist(), abs=1e-4), name
        assert EXPECTED[name] & {t.index for t in result.top}, f"{name}: top-5 {[t.label for t in result.top]}"

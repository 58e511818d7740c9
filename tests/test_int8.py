"""int8 that keeps the maps (model/int8.py): SmoothQuant's scales leave the float model's
output unchanged and rescue a model with an outlier channel that naive int8 ruins; each
photo's answer does not depend on what it is batched with; query and key stay float32."""

import numpy as np
import pytest
import torch
from torch import nn

from vit_gui.model import int8
from vit_gui.model.vit import VisionTransformer


def cosine_rows(a, b):
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1)


@pytest.fixture(scope="module")
def outlier_model():
    """A small random ViT with one input channel of block 0's MLP 60 times larger than the
    rest (as DINOv2's is, 131 against a typical 6), planted so that the float function is
    unchanged: the LayerNorm scales that channel up and fc1 scales its weights down."""
    torch.manual_seed(0)
    model = VisionTransformer(grid=(8, 8), patch_size=8, embed_dim=64, depth=4, num_heads=4, num_classes=0).eval()
    with torch.no_grad():
        for block in model.blocks:  # trained-looking scales: a residual stream that LayerNorm matters to
            block.norm1.weight.normal_(1.0, 0.3)
            block.norm2.weight.normal_(1.0, 0.3)
        block = model.blocks[0]
        block.norm2.weight[5] *= 60
        block.norm2.bias[5] *= 60
        block.mlp.fc1.weight[:, 5] /= 60
    return model.requires_grad_(False)


def pixels(count, seed=0):
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(torch.randn(count, 3, 8, 8, generator=generator), size=64,
                                             mode="bilinear", align_corners=False)
    return smooth.clamp(-2.5, 2.5)


def test_smoothing_leaves_the_float_model_unchanged(outlier_model):
    calibration, test = pixels(3, seed=1), pixels(4, seed=2)
    smoothed = int8.float_copy(outlier_model)
    int8.smooth(smoothed, calibration)
    norm = smoothed.blocks[0].norm2.weight
    assert float(norm[5].abs() / norm.abs().median()) < 20  # the outlier moved into fc1's weights
    with torch.inference_mode():
        before, after = outlier_model(test, return_attention=True), smoothed(test, return_attention=True)
    torch.testing.assert_close(after.features, before.features, rtol=1e-4, atol=1e-5)
    for ours, theirs in zip(after.attentions, before.attentions):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_smoothing_rescues_what_naive_int8_ruins(outlier_model):
    test = pixels(6, seed=3)
    naive = torch.ao.quantization.quantize_dynamic(int8.float_copy(outlier_model), {nn.Linear}, dtype=torch.qint8)
    ours = int8.quantised(outlier_model, pixels(3, seed=1))
    with torch.inference_mode():
        reference = outlier_model(test).features
        naive_cosine = cosine_rows(naive(test).features, reference).min()
        our_cosine = cosine_rows(ours(test).features, reference).min()
    assert our_cosine > 0.995
    assert 1 - our_cosine < (1 - naive_cosine) / 3  # at least three times closer


def test_query_and_key_stay_float_and_the_rest_is_int8(outlier_model):
    ours = int8.quantised(outlier_model, pixels(2))
    for number, block in enumerate(ours.blocks):
        assert isinstance(block.attn.qkv.qk, nn.Linear)
        assert all(isinstance(layer, int8.PerPhotoInt8) for layer in (block.attn.qkv.v, block.attn.proj, block.mlp.fc2))
        assert isinstance(block.mlp.fc1, nn.Linear if number == 0 else int8.PerPhotoInt8)
    fused = outlier_model.blocks[1].attn.qkv
    split = int8.float_copy(outlier_model).blocks[1].attn.qkv
    x = torch.randn(2, 9, 64)
    torch.testing.assert_close(split(x), fused(x))


def test_a_photos_answer_does_not_depend_on_its_batch(tiny_checkpoint, photos):
    """Over a whole batch one range quantised every photo: a bright neighbour changed a
    photo's features. Per photo, the same photo gives the same answer in any batch."""
    from PIL import Image

    from vit_gui.predict import Predictor

    model = Predictor.from_file(tiny_checkpoint, precision="int8")
    photo = Image.fromarray(photos["coffee"])
    bright = Image.fromarray(np.full((64, 64, 3), 255, np.uint8))
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    alone = model.predict([photo])[0].features
    for neighbours in ([bright], [noisy, bright], [noisy] * 3):
        batched = model.predict([photo, *neighbours])[0].features
        np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-5)

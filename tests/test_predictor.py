"""Predictor: top-k and maps on real photos, checked against transformers on the same input."""

import numpy as np
import pytest
import torch
from conftest import hf_reference
from PIL import Image
from reference_maps import np_chefer, np_rollout

from vit_gui.errors import DeviceError
from vit_gui.explain.maps import MapSpec
from vit_gui.predict import Predictor, resolve_device


@pytest.fixture
def predictor(tiny_checkpoint):
    return Predictor.from_file(tiny_checkpoint, "cpu")


@pytest.fixture
def images(photos):
    return [Image.fromarray(photos[name]) for name in ("chelsea", "coffee", "rocket")]


def test_top_k_matches_transformers_on_the_same_input(predictor, tiny_hf, images):
    results = predictor.predict(images, top_k=3)
    pixels, _ = predictor.prepare(images)
    ref_probs = torch.softmax(hf_reference(tiny_hf, pixels)[0], -1)
    for result, probs in zip(results, ref_probs):
        values, indices = probs.topk(3)
        assert [t.index for t in result.top] == indices.tolist()
        np.testing.assert_allclose([t.prob for t in result.top], values.numpy(), atol=1e-5)
        assert [t.label for t in result.top] == [f"label {i}" for i in indices.tolist()]
        assert result.top[0].prob >= result.top[1].prob >= result.top[2].prob
        assert result.probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert result.attentions is None


def test_a_batch_equals_images_one_by_one(predictor, images):
    together = predictor.predict(images, top_k=5)
    for image, result in zip(images, together):
        alone = predictor.predict([image], top_k=5)[0]
        np.testing.assert_allclose(alone.probs, result.probs, atol=1e-5)


@pytest.mark.parametrize("fusion, discard", [("mean", 0.0), ("max", 0.5), ("min", 0.2)])
def test_rollout_of_a_photo_matches_transformers_attentions(predictor, tiny_hf, images, fusion, discard):
    result = predictor.predict(images[:1], with_attentions=True)[0]
    assert result.attentions.shape == (4, 3, 197, 197)
    pixels, _ = predictor.prepare(images[:1])
    ref_attn = np.stack([a[0].numpy() for a in hf_reference(tiny_hf, pixels)[1]]).astype(np.float64)
    expected = np_rollout(ref_attn, fusion, discard, (14, 14))
    np.testing.assert_allclose(result.map(MapSpec("rollout", fusion, discard)), expected, atol=1e-5)


def test_class_map_matches_gradients_from_transformers(predictor, tiny_hf, images):
    pixels, _ = predictor.prepare(images[:1])
    maps = []
    for class_index in (2, 7):
        ours, geometry = predictor.class_map(images[0], class_index)
        with torch.enable_grad():
            out = tiny_hf(pixel_values=pixels, output_attentions=True)
            grads = torch.autograd.grad(out.logits[0, class_index], out.attentions)
        attn = np.stack([a[0].detach().numpy() for a in out.attentions]).astype(np.float64)
        grad = np.stack([g[0].numpy() for g in grads]).astype(np.float64)
        np.testing.assert_allclose(ours, np_chefer(attn, grad, (14, 14)), atol=1e-5)
        assert geometry.image_size == images[0].size
        maps.append(ours)
    assert np.abs(maps[0] - maps[1]).max() > 0.05  # different classes, different evidence


def test_class_index_out_of_range(predictor, images):
    with pytest.raises(ValueError, match="class index must be 0..9"):
        predictor.class_map(images[0], 10)


def test_top_k_larger_than_the_class_count_is_capped(predictor, images):
    assert len(predictor.predict(images[:1], top_k=50)[0].top) == 10


def test_cuda_request_is_a_clear_error_or_works():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(DeviceError, match="CUDA was requested but"):
            resolve_device("cuda")


def test_cuda_missing_fails_before_reading_the_model(tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceError, match="no CUDA support"):
        Predictor.from_file(tiny_checkpoint, "cuda")


def test_unknown_device_is_named():
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")

"""Grad-CAM, LeGrad and the deletion/insertion areas against the library that defines them
for ViTs, torchcam 0.5.0, on the same weights and the same photo:

- Grad-CAM: torchcam's `GradCAM` on Hugging Face transformers' ViT (an independent
  implementation of the model) at the last block's first LayerNorm, with the reshape
  transform of the ViT recipe (prefix token dropped, patches on their grid).
- LeGrad: torchcam's `LeGrad` needs blocks built on `nn.MultiheadAttention`; the test
  builds that ViT from our model's weights and checks it computes the same logits first.
- Deletion / insertion: torchcam's `DeletionInsertionMetric` on our model, with our map and
  the same fill (the mean colour; black for Chefer et al.'s black-out).
"""

from contextlib import contextmanager
from functools import partial

import numpy as np
import pytest
import torch
from conftest import make_hf_vit, write_checkpoint
from PIL import Image
from torch import nn
from torchcam.methods import GradCAM, LeGrad
from torchcam.metrics import DeletionInsertionMetric

from vit_gui.explain.faithfulness import Judge
from vit_gui.explain.maps import MapSpec
from vit_gui.predict import Predictor


@pytest.fixture(scope="module")
def same_weights(tmp_path_factory):
    """(transformers' ViT, our predictor on its weights): 3 blocks, peaked attention."""
    hf = make_hf_vit("ViT-Ti/16", depth=3, num_labels=10, scale=2.5, seed=3)
    folder = tmp_path_factory.mktemp("ref")
    path = write_checkpoint(hf, folder, sidecar={"num_heads": 3, "crop_pct": 1.0})
    return hf, Predictor.from_file(path)


@pytest.fixture(scope="module")
def photo(photos):
    return Image.fromarray(photos["chelsea"]).resize((224, 224))


@pytest.mark.parametrize("class_index", [0, 7])
def test_gradcam_matches_torchcam_on_transformers_vit(same_weights, photo, class_index):
    hf, ours = same_weights
    pixels, _ = ours.prepare([photo])

    def reshape(tokens):
        return tokens[:, 1:].reshape(tokens.shape[0], 14, 14, tokens.shape[-1]).permute(0, 3, 1, 2)

    with GradCAM(hf, hf.vit.layers[-1].layernorm_before, reshape_transform=reshape) as extractor:
        scores = hf(pixel_values=pixels).logits
        theirs = extractor(class_idx=class_index, scores=scores)[0][0].numpy()
    mine, _ = ours.gradient_map(photo, MapSpec("gradcam", class_index=class_index))
    assert theirs.max() > 0.99 and (theirs > 0.05).mean() > 0.05  # a real map, not a blank one
    np.testing.assert_allclose(mine, theirs, atol=2e-5)


class MultiheadBlock(nn.Module):
    """One of our blocks rebuilt on nn.MultiheadAttention (what torchcam's LeGrad hooks)."""

    def __init__(self, block):
        super().__init__()
        dim = block.attn.qkv.weight.shape[1]
        self.norm1 = nn.LayerNorm(dim, eps=block.norm1.eps)
        self.self_attention = nn.MultiheadAttention(dim, block.attn.num_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, eps=block.norm2.eps)
        self.fc1, self.fc2 = nn.Linear(dim, block.mlp.fc1.weight.shape[0]), nn.Linear(block.mlp.fc1.weight.shape[0], dim)
        with torch.no_grad():
            for mine, theirs in ((self.norm1, block.norm1), (self.norm2, block.norm2), (self.fc1, block.mlp.fc1),
                                 (self.fc2, block.mlp.fc2)):
                mine.weight.copy_(theirs.weight)
                mine.bias.copy_(theirs.bias)
            self.self_attention.in_proj_weight.copy_(block.attn.qkv.weight)  # rows q, k, v, as timm's qkv
            self.self_attention.in_proj_bias.copy_(block.attn.qkv.bias)
            self.self_attention.out_proj.weight.copy_(block.attn.proj.weight)
            self.self_attention.out_proj.bias.copy_(block.attn.proj.bias)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.self_attention(h, h, h, need_weights=False)[0]
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class MultiheadViT(nn.Module):
    def __init__(self, ours):
        super().__init__()
        model = ours.model
        self.patch = model.patch_embed.proj
        self.cls_token, self.pos_embed = model.cls_token, model.pos_embed
        self.blocks = nn.ModuleList(MultiheadBlock(b) for b in model.blocks)
        self.norm = nn.LayerNorm(model.embed_dim, eps=model.norm.eps)
        self.head = nn.Linear(model.embed_dim, model.num_classes)
        with torch.no_grad():
            self.norm.weight.copy_(model.norm.weight)
            self.norm.bias.copy_(model.norm.bias)
            self.head.weight.copy_(model.head.weight)
            self.head.bias.copy_(model.head.bias)

    def forward(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


@pytest.mark.parametrize("start_block", [0, 1])
def test_legrad_matches_torchcam_on_a_multihead_attention_vit(same_weights, photo, start_block):
    _, ours = same_weights
    reference = MultiheadViT(ours).eval()
    pixels, _ = ours.prepare([photo])
    with torch.no_grad():
        torch.testing.assert_close(reference(pixels), ours.model(pixels).logits, atol=1e-4, rtol=0)

    def block_score(tokens):
        return reference.head(reference.norm(tokens.mean(dim=1)))

    class_index = int(ours.model(pixels).logits.argmax())
    with LeGrad(reference, list(reference.blocks)[start_block:], score_projection=block_score,
                grid_shape=(14, 14)) as extractor:
        scores = reference(pixels)
        theirs = extractor(class_idx=class_index, scores=scores)[0][0].numpy()
    mine, _ = ours.gradient_map(photo, MapSpec("legrad", class_index=class_index, start_block=start_block))
    assert theirs.max() > 0.99 and theirs.std() > 0.05
    np.testing.assert_allclose(mine, theirs, atol=2e-5)


class FixedMap:
    """A torchcam CAM extractor that hands over a given map (the metric's interface)."""

    def __init__(self, model, cam):
        self.model, self.cam = model, cam

    def __call__(self, class_idx, scores):
        return [self.cam]

    @staticmethod
    def fuse_cams(cams):
        return cams[0]

    @contextmanager
    def _hooks_off(self):
        yield


class Logits(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model(pixels).logits


def test_mean_fill_areas_match_torchcams_deletion_insertion_metric(same_weights, photo):
    """Patch by patch: torchcam ranks pixels, so it is given the map at pixel resolution, each
    patch one value (distinct), and 14 steps of 14 whole patches each."""
    _, ours = same_weights
    pixels, _ = ours.prepare([photo])
    grid_map = np.random.default_rng(5).random((14, 14)).astype(np.float32)
    class_index = 2
    cam = torch.from_numpy(np.kron(grid_map, np.ones((16, 16), np.float32)))[None]
    metric = DeletionInsertionMetric(FixedMap(Logits(ours.model), cam), partial(torch.softmax, dim=-1), steps=14)
    metric.update(pixels, class_idx=class_index)
    theirs = metric.summary()
    result = Judge(ours, photo, "mean", class_index, steps=14, random_orders=2,
                   follow="probability").judge(grid_map, with_saco=False)
    assert result.deletion.auc == pytest.approx(theirs["deletion_auc"], abs=1e-5)
    # torchcam's insertion restores the top patches onto the fill: ours hides the least relevant first
    assert result.insertion.auc == pytest.approx(theirs["insertion_auc"], abs=1e-5)


def test_blackout_areas_match_torchcams_metric_with_a_black_baseline(same_weights, photo):
    """Pixel by pixel: the map upsampled bilinearly (as Chefer et al. and torchcam both do),
    black (0 in the [0, 1] image) as the fill, 16 steps of 3,136 pixels."""
    _, ours = same_weights
    pixels, _ = ours.prepare([photo])
    grid_map = np.random.default_rng(6).random((14, 14)).astype(np.float32)
    prep = ours.info.preprocessing
    black = ((0.0 - torch.tensor(prep.mean)) / torch.tensor(prep.std)).view(1, 3, 1, 1)
    metric = DeletionInsertionMetric(FixedMap(Logits(ours.model), torch.from_numpy(grid_map)[None]),
                                     partial(torch.softmax, dim=-1), steps=16,
                                     baseline=lambda x: black.expand_as(x))
    metric.update(pixels, class_idx=4)
    theirs = metric.summary()
    result = Judge(ours, photo, "blackout", 4, steps=16, random_orders=2, follow="probability").judge(grid_map, with_saco=False)
    assert result.deletion.auc == pytest.approx(theirs["deletion_auc"], abs=1e-5)
    # the two insertions mirror each other except where tied pixels straddle a step
    assert result.insertion.auc == pytest.approx(theirs["insertion_auc"], abs=2e-3)

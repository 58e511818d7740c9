"""Our ViT against Hugging Face transformers' ViTForImageClassification, same weights."""

import pytest
import torch
from conftest import hf_reference, make_hf_vit, write_checkpoint

from vit_gui.model.checkpoints import load_model


@pytest.mark.parametrize("shape", ["ViT-Ti/16", "ViT-S/16", "ViT-B/16"])
@pytest.mark.parametrize("size", [(224, 224), (160, 288)], ids=["224", "160x288"])
def test_logits_and_attentions_match_transformers(tmp_path, shape, size):
    hf = make_hf_vit(shape, depth=12, num_labels=1000, seed=1, scale=2.0)
    ours = load_model(write_checkpoint(hf, tmp_path)).model
    torch.manual_seed(2)
    pixels = torch.randn(2, 3, *size)

    ref_logits, ref_attn = hf_reference(hf, pixels)
    with torch.no_grad():
        out = ours(pixels, return_attention=True)

    tokens = 1 + (size[0] // 16) * (size[1] // 16)
    assert out.logits.shape == (2, 1000)
    assert len(out.attentions) == 12
    assert out.attentions[0].shape == (2, SHAPES_HEADS[shape], tokens, tokens)
    torch.testing.assert_close(out.logits, ref_logits, atol=1e-4, rtol=0)
    for mine, ref in zip(out.attentions, ref_attn):
        torch.testing.assert_close(mine, ref, atol=1e-5, rtol=0)
    # the comparison means something: attention is far from uniform, logits far from equal
    assert max(a.max().item() for a in out.attentions) > 10 / tokens
    assert out.logits.std().item() > 0.1


SHAPES_HEADS = {"ViT-Ti/16": 3, "ViT-S/16": 6, "ViT-B/16": 12}

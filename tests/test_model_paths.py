"""The fused (classification) and explicit (maps) attention paths of our ViT."""

import pytest
import torch

from vit_gui.model.vit import VisionTransformer, resample_pos_embed


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    vit = VisionTransformer(grid=(14, 14), patch_size=16, num_classes=7, embed_dim=192, depth=6, num_heads=3)
    with torch.no_grad():
        for p in vit.parameters():
            if p.ndim >= 2:
                p.normal_(0, 0.08)
    return vit.eval()


@pytest.mark.parametrize("size", [(224, 224), (192, 256), (64, 32)])
def test_fused_and_explicit_paths_give_the_same_logits(model, size):
    pixels = torch.randn(3, 3, *size)
    with torch.no_grad():
        fused = model(pixels)
        explicit = model(pixels, return_attention=True)
    assert fused.attentions is None
    torch.testing.assert_close(fused.logits, explicit.logits, atol=1e-5, rtol=1e-5)


def test_attention_rows_are_probabilities(model):
    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224), return_attention=True)
    assert len(out.attentions) == model.depth
    for attn in out.attentions:
        assert attn.shape == (2, 3, 197, 197)
        assert (attn >= 0).all()
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 3, 197))
        assert attn.max() > 0.05  # peaked enough that rows summing to 1 is not trivial


def test_position_embeddings_resample_to_non_square_grids():
    torch.manual_seed(0)
    old = torch.randn(1, 14 * 14, 8)
    new = resample_pos_embed(old, (14, 14), (10, 21))
    assert new.shape == (1, 210, 8)
    # bicubic resampling to the same grid is the identity; a constant field stays constant
    torch.testing.assert_close(resample_pos_embed(old, (14, 14), (14, 14)), old)
    flat = torch.full((1, 196, 4), 0.7)
    torch.testing.assert_close(resample_pos_embed(flat, (14, 14), (9, 30)), torch.full((1, 270, 4), 0.7))


def test_input_smaller_than_a_patch_is_a_clear_error(model):
    with pytest.raises(ValueError, match="smaller than one patch"):
        model(torch.randn(1, 3, 8, 224))


def test_parameter_names_follow_timm(model):
    names = set(model.state_dict())
    for expected in ["patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.0.norm1.weight",
                     "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.bias", "blocks.5.norm2.bias",
                     "blocks.5.mlp.fc1.weight", "blocks.5.mlp.fc2.bias", "norm.weight", "head.weight"]:
        assert expected in names

"""Rollout, block, head and class maps against a plain numpy re-derivation."""

import numpy as np
import pytest
import torch
from reference_maps import np_chefer, np_fuse, np_normalise, np_rollout

from vit_gui.explain import rollout as ro
from vit_gui.explain.maps import MapSpec, compute_map

GRID = (6, 5)
TOKENS = 1 + GRID[0] * GRID[1]


def random_attention(seed, blocks=4, heads=3, tokens=TOKENS):
    """Row-stochastic random attention, peaked (Dirichlet with a small concentration)."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(tokens, 0.3), size=(blocks, heads, tokens))


# ---- tests ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("seed", [0, 1])
def test_rollout_matches_numpy(fusion, discard, seed):
    attn = random_attention(seed)
    ours = ro.rollout(torch.tensor(attn, dtype=torch.float32), GRID, fusion, discard)
    ref = np_rollout(attn.astype(np.float32).astype(np.float64), fusion, discard, GRID)
    assert ours.shape == GRID and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert ours.min() == 0.0 and ours.max() == pytest.approx(1.0)


def test_discard_changes_the_map_and_spares_cls_to_cls():
    attn = random_attention(3)
    assert not np.allclose(ro.rollout(attn, GRID, "mean", 0.0), ro.rollout(attn, GRID, "mean", 0.5))
    fused = torch.zeros(TOKENS, TOKENS, dtype=torch.float64)
    fused[0, 0] = 1e-9  # the smallest entry of all: still kept
    fused[1:, :] = torch.rand(TOKENS - 1, TOKENS, dtype=torch.float64) + 0.1
    kept = ro.discard_lowest(fused, 0.2)
    assert kept[0, 0] == 1e-9
    assert (kept == 0).sum() >= int(TOKENS * TOKENS * 0.2)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_block_maps_match_numpy(fusion):
    attn = random_attention(4)
    for block in range(attn.shape[0]):
        ref = np_normalise(np_fuse(attn[block], fusion)[0, 1:].reshape(GRID))
        np.testing.assert_allclose(ro.block_map(attn, GRID, block, fusion), ref, atol=1e-5)
        np.testing.assert_allclose(ro.block_maps(attn, GRID, fusion)[block], ref, atol=1e-5)


def test_head_maps_match_numpy():
    attn = random_attention(5)
    for block in range(attn.shape[0]):
        for head in range(attn.shape[1]):
            ref = np_normalise(attn[block, head, 0, 1:].reshape(GRID))
            np.testing.assert_allclose(ro.head_map(attn, GRID, block, head), ref, atol=1e-5)
            np.testing.assert_allclose(ro.head_maps(attn, GRID, block)[head], ref, atol=1e-5)


def test_class_relevance_matches_numpy():
    attn = random_attention(6)
    grads = np.random.default_rng(7).normal(size=attn.shape)
    np.testing.assert_allclose(ro.class_relevance(attn, grads, GRID), np_chefer(attn, grads, GRID), atol=1e-5)


def test_map_spec_dispatch_and_validation():
    attn = random_attention(8)
    np.testing.assert_allclose(compute_map(attn, GRID, MapSpec("rollout", "max", 0.2)), np_rollout(attn, "max", 0.2, GRID), atol=1e-5)
    np.testing.assert_allclose(compute_map(attn, GRID, MapSpec("head", block=2, head=1)), ro.head_map(attn, GRID, 2, 1))
    with pytest.raises(ValueError, match="fusion"):
        MapSpec("rollout", fusion="median")
    with pytest.raises(ValueError, match="discard"):
        MapSpec("rollout", discard_ratio=1.0)
    with pytest.raises(ValueError, match="block must be 1..4"):
        MapSpec("block", block=4).check_against(depth=4, heads=3, classes=10)
    with pytest.raises(ValueError, match="head must be 1..3"):
        MapSpec("head", block=0, head=3).check_against(depth=4, heads=3, classes=10)


def test_constant_map_normalises_to_zeros():
    uniform = np.full((2, 2, TOKENS, TOKENS), 1.0 / TOKENS)
    assert (ro.rollout(uniform, GRID) == 0).all()


def test_wrong_grid_is_an_error():
    with pytest.raises(ValueError, match="do not fill"):
        ro.rollout(random_attention(0), (4, 4))

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


# ---- prefix tokens (registers, distillation) and the rollout's first block --------------------

@pytest.mark.parametrize("prefix", [2, 5])
@pytest.mark.parametrize("start", [0, 1, 3])
def test_rollout_with_prefix_tokens_and_a_later_start_matches_numpy(prefix, start):
    attn = random_attention(7, blocks=4, tokens=prefix + GRID[0] * GRID[1])
    spec = MapSpec("rollout", fusion="max", discard_ratio=0.2, start_block=start)
    ours = compute_map(torch.tensor(attn, dtype=torch.float32), GRID, spec, prefix)
    ref = np_rollout(attn.astype(np.float32).astype(np.float64), "max", 0.2, GRID, prefix, start)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_block_head_and_class_maps_skip_every_prefix_token():
    prefix = 5
    attn = random_attention(8, blocks=3, tokens=prefix + GRID[0] * GRID[1])
    grads = np.random.default_rng(9).normal(size=attn.shape)
    t = torch.tensor(attn)
    np.testing.assert_allclose(compute_map(t, GRID, MapSpec("block", block=2), prefix),
                               np_normalise(np_fuse(attn[2], "mean")[0, prefix:].reshape(GRID)), atol=1e-6)
    np.testing.assert_allclose(compute_map(t, GRID, MapSpec("head", block=1, head=2), prefix),
                               np_normalise(attn[1, 2, 0, prefix:].reshape(GRID)), atol=1e-6)
    np.testing.assert_allclose(ro.class_relevance(t, torch.tensor(grads), GRID, prefix),
                               np_chefer(attn, grads, GRID, prefix), atol=1e-6)


def test_extra_token_share_is_the_class_rows_mass_on_registers():
    from vit_gui.explain.maps import extra_token_share

    prefix = 5
    attn = random_attention(10, blocks=3, tokens=prefix + GRID[0] * GRID[1])
    head = MapSpec("head", block=2, head=1)
    assert extra_token_share(torch.tensor(attn), head, prefix) == pytest.approx(attn[2, 1, 0, 1:prefix].sum())
    assert extra_token_share(torch.tensor(attn), head, 1) == 0.0
    tokens = attn.shape[-1]
    full = np.eye(tokens)
    for block in attn:
        a = block.mean(axis=0) + np.eye(tokens)
        full = (a / a.sum(axis=1, keepdims=True)) @ full
    expected = full[0, 1:prefix].sum() / full[0].sum()
    assert extra_token_share(torch.tensor(attn), MapSpec(), prefix) == pytest.approx(expected)


def test_rollout_start_out_of_range_is_a_clear_error():
    with pytest.raises(ValueError, match="block 1..4"):
        ro.rollout(random_attention(0), GRID, start_block=4)
    with pytest.raises(ValueError, match="first block must be 1..12"):
        MapSpec(start_block=12).check_against(12, 6, 0)
    with pytest.raises(ValueError, match="no classes"):
        MapSpec("class").check_against(12, 6, 0)

"""Attention maps from one image's per-block attention probabilities.

`attn` is (blocks, heads, N, N) with token 0 the class token and tokens 1..N-1 the patches
in row-major grid order. Every map is the class token's row over the patches, reshaped to
the patch grid and normalised to [0, 1]. Computed in float64: rollout multiplies a dozen
near-uniform matrices and the normalisation magnifies their rounding.

- rollout (Abnar & Zuidema 2020): fuse heads, optionally discard the weakest entries
  (never CLS->CLS), add the identity for the residual path, renormalise rows, multiply.
- block / head maps: the class token's attention in one block, heads fused or one head.
- class-specific map (Chefer, Gur & Wolf 2021): gradient-weighted attention relevance.
"""

from __future__ import annotations

import numpy as np
import torch

FUSIONS = ("mean", "max", "min")


def _as_f64(attn) -> torch.Tensor:
    return torch.as_tensor(attn).detach().to(device="cpu", dtype=torch.float64)


def fuse_heads(attn: torch.Tensor, fusion: str = "mean") -> torch.Tensor:
    """(..., heads, N, N) -> (..., N, N) by the mean, max or min over heads."""
    if fusion == "mean":
        return attn.mean(dim=-3)
    if fusion == "max":
        return attn.amax(dim=-3)
    if fusion == "min":
        return attn.amin(dim=-3)
    raise ValueError(f"head fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")


def normalize(values: torch.Tensor) -> torch.Tensor:
    """Scale to [0, 1] along the last two dims; a constant map becomes all zeros.

    A spread below 1e-10 of the values' size is rounding noise, not signal: stretching
    it to [0, 1] would paint a pattern the model never made.
    """
    low = values.amin(dim=(-2, -1), keepdim=True)
    span = values.amax(dim=(-2, -1), keepdim=True) - low
    scale = values.abs().amax(dim=(-2, -1), keepdim=True)
    real = span > 1e-10 * scale
    return torch.where(real, (values - low) / torch.where(real, span, 1.0), 0.0)


def cls_to_grid(matrix: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """The class token's row over the patches of (..., N, N), as float32 (..., gh, gw) in [0, 1]."""
    row = matrix[..., 0, 1:]
    if row.shape[-1] != grid[0] * grid[1]:
        raise ValueError(f"{row.shape[-1]} patch tokens do not fill a {grid[0]}x{grid[1]} grid")
    return normalize(row.reshape(*row.shape[:-1], *grid)).numpy().astype(np.float32)


def discard_lowest(fused: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the `ratio` fraction of smallest entries of an (N, N) matrix, CLS->CLS excluded."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"discard ratio must be in [0, 1), got {ratio}")
    flat = fused.flatten().clone()
    count = int(flat.numel() * ratio)
    if count == 0:
        return fused
    candidates = flat.clone()
    candidates[0] = float("inf")  # the class token's own entry is never discarded
    flat[torch.topk(candidates, count, largest=False).indices] = 0.0
    return flat.reshape(fused.shape)


def rollout_matrix(attn, fusion: str = "mean", discard_ratio: float = 0.0) -> torch.Tensor:
    """R = Â_L · … · Â_1 with Â_l = (A_l + I) / rowsum, A_l the head-fused block attention."""
    fused = fuse_heads(_as_f64(attn), fusion)
    tokens = fused.shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64)
    result = eye
    for block in fused:
        block = discard_lowest(block, discard_ratio) + eye
        result = (block / block.sum(dim=-1, keepdim=True)) @ result
    return result


def rollout(attn, grid: tuple[int, int], fusion: str = "mean", discard_ratio: float = 0.0) -> np.ndarray:
    """The rollout map over all blocks, on the patch grid, in [0, 1]."""
    return cls_to_grid(rollout_matrix(attn, fusion, discard_ratio), grid)


def block_maps(attn, grid: tuple[int, int], fusion: str = "mean") -> np.ndarray:
    """Every block's head-fused map at once: (blocks, gh, gw)."""
    return cls_to_grid(fuse_heads(_as_f64(attn), fusion), grid)


def block_map(attn, grid: tuple[int, int], block: int, fusion: str = "mean") -> np.ndarray:
    """One block's map (0-based block index), heads fused."""
    return cls_to_grid(fuse_heads(_as_f64(attn[block]), fusion), grid)


def head_maps(attn, grid: tuple[int, int], block: int) -> np.ndarray:
    """Every head of one block: (heads, gh, gw)."""
    return cls_to_grid(_as_f64(attn[block]), grid)


def head_map(attn, grid: tuple[int, int], block: int, head: int) -> np.ndarray:
    """One head of one block (0-based indices)."""
    return cls_to_grid(_as_f64(attn[block][head]), grid)


def class_relevance(attn, grads, grid: tuple[int, int]) -> np.ndarray:
    """Chefer et al.: R <- R + mean_h(max(G_l ⊙ A_l, 0)) · R from R = I, over blocks in order.

    `grads` holds dy_c/dA_l for the chosen class c, the same shape as `attn`.
    """
    attn, grads = _as_f64(attn), _as_f64(grads)
    relevance = torch.eye(attn.shape[-1], dtype=torch.float64)
    for block_attn, block_grad in zip(attn, grads):
        weighted = (block_grad * block_attn).clamp(min=0).mean(dim=0)
        relevance = relevance + weighted @ relevance
    return cls_to_grid(relevance, grid)

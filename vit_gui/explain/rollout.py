"""Attention maps from one image's per-block attention probabilities.

`attn` is (blocks, heads, N, N) with token 0 the class token, then `prefix - 1` more prefix
tokens (a distillation token, registers), then the patches in row-major grid order. Every
map is the class token's row over the *patches*, reshaped to the patch grid and normalised
to [0, 1]; the other prefix tokens stay in every product (they carry attention) but are
never drawn: `prefix_share` says how much of the class token's attention they took. Computed in float64: rollout multiplies a dozen
near-uniform matrices and the normalisation magnifies their rounding.

- rollout (Abnar & Zuidema 2020): fuse heads, optionally discard the weakest entries
  (never CLS->CLS), add the identity for the residual path, renormalise rows, multiply;
  only the class token's row of the product is needed, so it is carried as a vector.
- block / head maps: the class token's attention in one block, heads fused or one head.
- class-specific map (Chefer, Gur & Wolf 2021): gradient-weighted attention relevance.
"""

from __future__ import annotations

import numpy as np
import torch

FUSIONS = ("mean", "max", "min")


def _as_f64(attn) -> torch.Tensor:
    return torch.as_tensor(attn).detach().to(device="cpu", dtype=torch.float64)


def fuse_heads(attn, fusion: str = "mean") -> torch.Tensor:
    """(..., heads, N, N) -> float64 (..., N, N) by the mean, max or min over heads.

    Reduces first, in the attention's own precision, and widens after: copying the whole
    stack to float64 first (or a float64-accumulating sum) costs ten times more, most of
    a second for a 384-pixel ViT-B, for a gain far below the maps' 1e-5 tolerance.
    """
    attn = torch.as_tensor(attn).detach().cpu()
    if fusion == "mean":
        return attn.mean(dim=-3).to(torch.float64)
    if fusion == "max":
        return attn.amax(dim=-3).to(torch.float64)
    if fusion == "min":
        return attn.amin(dim=-3).to(torch.float64)
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


def row_to_grid(row: torch.Tensor, grid: tuple[int, int], prefix: int = 1, photo: np.ndarray | None = None) -> np.ndarray:
    """A class-token row over all tokens (..., N) -> float32 (..., gh, gw) in [0, 1]; with
    `photo` (gh, gw) bool, scaled over the photo's patches, letterbox padding set to 0."""
    patches = row[..., prefix:]
    if patches.shape[-1] != grid[0] * grid[1]:
        raise ValueError(f"{patches.shape[-1]} patch tokens do not fill a {grid[0]}x{grid[1]} grid")
    values = patches.reshape(*patches.shape[:-1], *grid)
    if photo is not None:
        from vit_gui.explain.photo_area import scale_over_photo

        return scale_over_photo(values.numpy(), photo)
    return normalize(values).numpy().astype(np.float32)


def discard_lowest(fused: torch.Tensor, ratio: float) -> torch.Tensor:
    """Zero the `ratio` fraction of smallest entries of an (N, N) matrix, CLS->CLS excluded.

    Selection by partition (O(N²)), not a full sort or a huge top-k: at a 0.9 ratio on
    ViT-B a top-k alone took 3 ms a block, which a user dragging the slider would feel.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"discard ratio must be in [0, 1), got {ratio}")
    values = fused.numpy().reshape(-1).copy()
    count = int(values.size * ratio)
    if count == 0:
        return fused
    candidates = values.copy()
    candidates[0] = np.inf  # the class token's own entry is never discarded
    values[np.argpartition(candidates, count - 1)[:count]] = 0.0
    return torch.from_numpy(values.reshape(fused.shape))


def prefix_share(row: torch.Tensor, prefix: int) -> float:
    """The fraction of a class-token row (rollout or one block) on the prefix tokens other
    than the class token itself: what registers or a distillation token took."""
    row = torch.as_tensor(row, dtype=torch.float64)
    return float(row[1:prefix].sum() / row.sum()) if prefix > 1 else 0.0


def rollout_row(attn, fusion: str = "mean", discard_ratio: float = 0.0, start_block: int = 0) -> torch.Tensor:
    """The class token's row of R = Â_L · … · Â_s, with Â_l = (A_l + I) / rowsum.

    `start_block` s (0-based) leaves the first blocks out, as `start_layer` in Chefer et al.'s
    code: on DINOv2 block 1 routes the class token to one background patch, and a rollout
    through it puts a tenth of the whole map there.
    Only the class token's row is ever shown, so it is carried as a vector through the blocks
    from the last to the first (e_0ᵀ Â_L … Â_s): O(L·N²) instead of O(L·N³) for the product.
    """
    fused = fuse_heads(attn, fusion)
    if not 0 <= start_block < fused.shape[0]:
        raise ValueError(f"rollout must start at block 1..{fused.shape[0]}, got {start_block + 1}")
    tokens = fused.shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64)
    row = eye[0]
    for index in range(fused.shape[0] - 1, start_block - 1, -1):  # reversed(tensor) would copy it all
        block = discard_lowest(fused[index], discard_ratio) + eye
        row = row @ (block / block.sum(dim=-1, keepdim=True))
    return row


def rollout(attn, grid: tuple[int, int], fusion: str = "mean", discard_ratio: float = 0.0,
            start_block: int = 0, prefix: int = 1, photo: np.ndarray | None = None) -> np.ndarray:
    """The rollout map over blocks start_block..L, on the patch grid, in [0, 1]."""
    return row_to_grid(rollout_row(attn, fusion, discard_ratio, start_block), grid, prefix, photo)


def block_rows(attn, fusion: str = "mean") -> torch.Tensor:
    """Every block's head-fused class-token row: (blocks, N)."""
    return fuse_heads(torch.as_tensor(attn)[..., :1, :], fusion)[..., 0, :]


def block_maps(attn, grid: tuple[int, int], fusion: str = "mean", prefix: int = 1,
               photo: np.ndarray | None = None) -> np.ndarray:
    """Every block's head-fused map at once: (blocks, gh, gw)."""
    return row_to_grid(block_rows(attn, fusion), grid, prefix, photo)


def block_map(attn, grid: tuple[int, int], block: int, fusion: str = "mean", prefix: int = 1,
              photo: np.ndarray | None = None) -> np.ndarray:
    """One block's map (0-based block index), heads fused."""
    return row_to_grid(fuse_heads(torch.as_tensor(attn[block])[..., :1, :], fusion)[0], grid, prefix, photo)


def head_maps(attn, grid: tuple[int, int], block: int, prefix: int = 1, photo: np.ndarray | None = None) -> np.ndarray:
    """Every head of one block: (heads, gh, gw)."""
    return row_to_grid(_as_f64(torch.as_tensor(attn[block])[:, 0, :]), grid, prefix, photo)


def head_map(attn, grid: tuple[int, int], block: int, head: int, prefix: int = 1,
             photo: np.ndarray | None = None) -> np.ndarray:
    """One head of one block (0-based indices)."""
    return row_to_grid(_as_f64(torch.as_tensor(attn[block][head])[0]), grid, prefix, photo)


def class_relevance(attn, grads, grid: tuple[int, int], prefix: int = 1, photo: np.ndarray | None = None) -> np.ndarray:
    """Chefer et al.: R <- R + Ā_l · R from R = I for l = 1..L, Ā_l = mean_h(max(G_l ⊙ A_l, 0)).

    `grads` holds dy_c/dA_l for the chosen class c, the same shape as `attn`. The update
    makes R = (I + Ā_L) … (I + Ā_1), so its class-token row is carried as a vector from
    the last block to the first, as in rollout.
    """
    tokens = torch.as_tensor(attn).shape[-1]
    row = torch.eye(tokens, dtype=torch.float64)[0]
    for block_attn, block_grad in zip(reversed(list(attn)), reversed(list(grads))):
        weighted = (_as_f64(block_grad) * _as_f64(block_attn)).clamp(min=0).mean(dim=0)
        row = row + row @ weighted
    return row_to_grid(row, grid, prefix, photo)

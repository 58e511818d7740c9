"""Maps that need the model's gradients for one class: class evidence (Chefer et al.),
Grad-CAM for ViTs and LeGrad. Each runs the model once on one input with autograd on and
returns a map on the patch grid, scaled to [0, 1] over the photo's patches.

- Chefer, Gur & Wolf 2021: R <- R + mean_h(max(dA ⊙ A, 0)) · R over the blocks (rollout.class_relevance).
- Grad-CAM for ViT (Selvaraju et al. 2017 as pytorch-grad-cam and torchcam apply it to
  ViTs): activations A and gradients dy_c/dA of the last block's first LayerNorm output,
  prefix tokens dropped, patches on their grid; channel weights w_k = mean over patches of
  the gradient; map = ReLU(sum_k w_k A_k).
- LeGrad (Bousselham et al. 2024, as the authors' code and torchcam compute it): for each
  block l from `start_block`, the block's own class score s_l = head(norm(mean of its output
  tokens)); its gradient with respect to that block's attention probabilities, ReLU,
  averaged over heads and queries, prefix keys dropped; the mean over the blocks.
"""

from __future__ import annotations

import numpy as np
import torch

from vit_gui.explain.photo_area import scale_over_photo
from vit_gui.explain.rollout import class_relevance

GRADIENT_KINDS = ("class", "gradcam", "legrad")


def gradient_map(model, pixels: torch.Tensor, kind: str, class_index: int, photo: np.ndarray | None = None,
                 start_block: int = 0) -> np.ndarray:
    """The `kind` map of one input (1, 3, H, W) for `class_index`, on the patch grid."""
    if model.head is None:
        raise ValueError("this model has no classes yet, so it has no class-specific map")
    if not 0 <= class_index < model.num_classes:
        raise ValueError(f"class index must be 0..{model.num_classes - 1}, got {class_index}")
    grid = model.grid_for(*pixels.shape[-2:])
    pixels = pixels.detach().requires_grad_(True)  # the model's own weights are frozen
    with torch.enable_grad():
        if kind == "class":
            return chefer(model, pixels, class_index, grid, photo)
        if kind == "gradcam":
            return gradcam(model, pixels, class_index, grid, photo)
        if kind == "legrad":
            return legrad(model, pixels, class_index, grid, photo, start_block)
    raise ValueError(f"{kind!r} is not a gradient map; choose one of {', '.join(GRADIENT_KINDS)}")


def attention_grads(model, pixels: torch.Tensor, class_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(attentions, d logit_c / d attentions), each (blocks, heads, N, N), for one input."""
    pixels = pixels.detach().requires_grad_(True)
    with torch.enable_grad():
        out = model(pixels, return_attention=True)
        grads = torch.autograd.grad(out.logits[0, class_index], out.attentions)
    attn = torch.stack([a[0] for a in out.attentions]).detach().float().cpu()
    return attn, torch.stack([g[0] for g in grads]).float().cpu()


def chefer(model, pixels, class_index: int, grid, photo) -> np.ndarray:
    attn, grad = attention_grads(model, pixels, class_index)
    return class_relevance(attn, grad, grid, model.num_prefix_tokens, photo)


def gradcam(model, pixels, class_index: int, grid, photo) -> np.ndarray:
    kept = {}
    hook = model.blocks[-1].norm1.register_forward_hook(lambda _m, _i, output: kept.setdefault("a", output))
    try:
        out = model(pixels)
    finally:
        hook.remove()
    activation = kept["a"]  # (1, N, D)
    (gradient,) = torch.autograd.grad(out.logits[0, class_index], activation)
    prefix = model.num_prefix_tokens
    activation = activation[0, prefix:].detach().double()  # (patches, D)
    gradient = gradient[0, prefix:].double()
    weights = gradient.mean(dim=0)  # one per channel: the gradient's mean over the patches
    cam = torch.relu(activation @ weights).reshape(grid)
    return scale_over_photo(cam.numpy(), photo)


def legrad(model, pixels, class_index: int, grid, photo, start_block: int = 0) -> np.ndarray:
    if not 0 <= start_block < len(model.blocks):
        raise ValueError(f"LeGrad's first block must be 1..{len(model.blocks)}, got {start_block + 1}")
    outputs = {}
    hooks = [block.register_forward_hook(lambda _m, _i, output, i=i: outputs.__setitem__(i, output[0]))
             for i, block in enumerate(model.blocks) if i >= start_block]
    try:
        out = model(pixels, return_attention=True)
    finally:
        for hook in hooks:
            hook.remove()
    prefix = model.num_prefix_tokens
    blocks = sorted(outputs)
    relevance = torch.zeros(grid[0] * grid[1], dtype=torch.float64)
    for number, index in enumerate(blocks):
        score = block_score(model, outputs[index])[0, class_index]
        (gradient,) = torch.autograd.grad(score, out.attentions[index], retain_graph=number < len(blocks) - 1)
        relevance += gradient[0].double().clamp(min=0).mean(dim=(0, 1))[prefix:]
    return scale_over_photo((relevance / len(blocks)).reshape(grid).numpy(), photo)


def block_score(model, tokens: torch.Tensor) -> torch.Tensor:
    """A block's class scores: its output tokens averaged, then the final norm and the head
    (for a head that reads the class token beside the patch mean, both halves get the
    average; a distilled model's two heads are averaged as in its forward)."""
    pooled = model.norm(tokens.mean(dim=1))
    read = torch.cat([pooled, pooled], dim=-1) if model.head_input == "cls+mean" else pooled
    logits = model.head(read)
    if model.head_dist is not None:
        logits = (logits + model.head_dist(pooled)) / 2
    return logits

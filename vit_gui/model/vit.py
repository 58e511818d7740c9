"""The Vision Transformer family (ViT, DeiT, DINOv2) as one model with switches, as timm has it.

Parameter names match timm's `VisionTransformer` (`patch_embed.proj`, `cls_token`,
`dist_token`, `reg_token`, `pos_embed`, `blocks.N.norm1`, `blocks.N.attn.qkv`,
`blocks.N.attn.proj`, `blocks.N.ls1.gamma`, `blocks.N.norm2`, `blocks.N.mlp.fc1/fc2`,
`blocks.N.ls2.gamma`, `norm`, `head`, `head_dist`), so timm state dicts load as they are.

Tokens are ordered [class, distillation?, registers..., patches], as in timm and
transformers. The first `prefix_pos_tokens` prefix tokens carry a position embedding (1 for
ViT and DINOv2, 2 for distilled DeiT, 0 for timm's `no_embed_class` models); registers in
transformers' layout carry none.

Plain classification uses PyTorch's fused attention kernel. Attention probabilities are
only materialised when the caller asks for them, in the same forward pass.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vit_gui.model.buffer_pool import pooled_tensor


class ViTOutput(NamedTuple):
    """Logits (B, classes), None for a backbone without a head; the final-norm class token
    (B, width), the image's feature vector; when asked for, each block's attention
    (B, heads, N, N); and the mean of the final-norm patch tokens (B, width)."""

    logits: torch.Tensor | None
    attentions: tuple[torch.Tensor, ...] | None
    features: torch.Tensor | None = None
    patch_mean: torch.Tensor | None = None
    attention_stack: torch.Tensor | None = None  # (B, blocks, heads, N, N), outside autograd: `attentions` are its views


def resample_pos_embed(
    patch_pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int], antialias: bool = False
) -> torch.Tensor:
    """Bicubically resample patch position embeddings (1, gh*gw, D) to another grid.

    Uses align_corners=False, as Hugging Face's ViT and DINOv2 do, so inputs of any size
    (square or not) see the same embeddings there and here. `antialias` as DINOv2 with
    registers (and timm) resample: torch's antialiased bicubic uses another kernel (a=-0.5)
    even when enlarging, so the flag matters at every size.
    """
    if tuple(old_grid) == tuple(new_grid):
        return patch_pos
    dim = patch_pos.shape[-1]
    grid = patch_pos.reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(new_grid), mode="bicubic", align_corners=False, antialias=antialias)
    return grid.to(patch_pos.dtype).permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], dim)


class Affine(nn.Module):
    """A weight and an optional bias, allocated but not initialised.

    torch's own layers initialise their weights as they are built, writing every byte: a
    model about to receive a checkpoint's tensors would hold its weights twice. These are
    filled either by the checkpoint (load_state_dict(assign=True)) or by init_weights().
    The parameter names are torch's, so state dicts are the same.
    """

    def __init__(self, weight_shape: tuple[int, ...], bias_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(weight_shape))
        if bias_size:
            self.bias = nn.Parameter(torch.empty(bias_size))
        else:
            self.register_parameter("bias", None)


class Linear(Affine):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__((out_features, in_features), out_features if bias else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class LayerNorm(Affine):
    def __init__(self, dim: int, eps: float):
        super().__init__((dim,), dim)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class PatchConv(Affine):
    """The patch embedding's strided convolution (kernel = stride = patch size)."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int):
        super().__init__((embed_dim, in_chans, patch_size, patch_size), embed_dim)
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=self.patch_size)


class PatchEmbed(nn.Module):
    """Split the image into non-overlapping patches and project each with a strided conv."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = PatchConv(in_chans, embed_dim, patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, gh*gw, D)


class Attention(nn.Module):
    """Multi-head self-attention; returns the probabilities only when asked."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = Linear(dim, dim)

    def forward(self, x: torch.Tensor, need_weights: bool = False, mask: torch.Tensor | None = None):
        """`mask` (B, 1, 1, N) bool: the tokens others may attend to; the rest are as good as
        dropped from the sequence (the faithfulness curves remove patches this way)."""
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, head_dim)
        if need_weights:
            scores = (q * self.scale) @ k.transpose(-2, -1)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            attn = torch.softmax(scores, dim=-1)
            out = attn @ v
        else:
            attn = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj(out), attn


GELUS = ("erf", "tanh")


class Mlp(nn.Module):
    """Two-layer feed-forward network with GELU: exact (erf), or the tanh approximation."""

    def __init__(self, dim: int, hidden: int, gelu: str = "erf"):
        super().__init__()
        if gelu not in GELUS:
            raise ValueError(f"gelu must be one of {', '.join(GELUS)}, got {gelu!r}")
        self.fc1 = Linear(dim, hidden)
        self.act = nn.GELU(approximate="none" if gelu == "erf" else "tanh")
        self.fc2 = Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    """A learned per-channel scale on a residual branch (CaiT, DINOv2): x * gamma."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.empty(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x)));
    the LayerScales are identities unless `layer_scale`."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, qkv_bias: bool, eps: float,
                 layer_scale: bool = False, gelu: str = "erf"):
        super().__init__()
        self.norm1 = LayerNorm(dim, eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.ls1 = LayerScale(dim) if layer_scale else nn.Identity()
        self.norm2 = LayerNorm(dim, eps)
        self.mlp = Mlp(dim, mlp_hidden, gelu)
        self.ls2 = LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, x: torch.Tensor, need_weights: bool = False, mask: torch.Tensor | None = None):
        attn_out, attn = self.attn(self.norm1(x), need_weights, mask)
        x = x + self.ls1(attn_out)
        x = x + self.ls2(self.mlp(self.norm2(x)))
        return x, attn


class VisionTransformer(nn.Module):
    """A ViT of any depth, width, head count, patch and input size, with the switches of the
    modern family: LayerScale, a distillation token (and its head), register tokens, tanh
    GELU, and how many prefix tokens the position embedding covers.

    `grid` is the patch grid the position embeddings were trained for; inputs of any
    other size (multiples of the patch size) get bicubically resampled embeddings.
    `num_classes=0` is a backbone: no head, the output carries features and attentions.
    `init_weights=False` leaves the weights unwritten, for a checkpoint to fill.
    """

    def __init__(
        self,
        *,
        grid: tuple[int, int] = (14, 14),
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_hidden: int | None = None,
        qkv_bias: bool = True,
        layer_norm_eps: float = 1e-6,
        layer_scale: bool = False,
        dist_token: bool = False,
        dist_head: bool | None = None,
        num_reg_tokens: int = 0,
        prefix_pos_tokens: int | None = None,
        gelu: str = "erf",
        pos_embed_antialias: bool = False,
        head_input: str = "cls",
        init_weights: bool = True,
    ):
        super().__init__()
        self.grid = (int(grid[0]), int(grid[1]))
        self.patch_size = patch_size
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.num_reg_tokens = num_reg_tokens
        self.pos_embed_antialias = pos_embed_antialias
        self.num_prefix_tokens = 1 + int(dist_token) + num_reg_tokens
        self.prefix_pos_tokens = 1 + int(dist_token) if prefix_pos_tokens is None else prefix_pos_tokens
        if not 0 <= self.prefix_pos_tokens <= self.num_prefix_tokens:
            raise ValueError(f"{self.prefix_pos_tokens} position-embedded prefix tokens, but only "
                             f"{self.num_prefix_tokens} prefix tokens")
        mlp_hidden = mlp_hidden or 4 * embed_dim
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.empty(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.empty(1, 1, embed_dim)) if dist_token else None
        self.reg_token = nn.Parameter(torch.empty(1, num_reg_tokens, embed_dim)) if num_reg_tokens else None
        self.pos_embed = nn.Parameter(torch.empty(1, self.prefix_pos_tokens + self.grid[0] * self.grid[1], embed_dim))
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_hidden, qkv_bias, layer_norm_eps, layer_scale, gelu) for _ in range(depth)
        )
        self.norm = LayerNorm(embed_dim, layer_norm_eps)
        if head_input not in ("cls", "cls+mean"):
            raise ValueError(f"head_input must be 'cls' or 'cls+mean', got {head_input!r}")
        self.head_input = head_input  # cls+mean: the class token beside the mean of the patches (DINOv2's probe)
        head_width = 2 * embed_dim if head_input == "cls+mean" else embed_dim
        self.head = Linear(head_width, num_classes) if num_classes else None
        has_dist_head = dist_token if dist_head is None else dist_head
        self.head_dist = Linear(embed_dim, num_classes) if num_classes and has_dist_head else None
        if init_weights:
            self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """timm-style random initialisation (for tests and benchmarks: real use loads weights)."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for token in (self.cls_token, self.dist_token, self.reg_token):
            if token is not None:
                nn.init.normal_(token, std=1e-6)
        init_layers(self)

    def grid_for(self, height: int, width: int) -> tuple[int, int]:
        """The patch grid an input of this pixel size is cut into."""
        return height // self.patch_size, width // self.patch_size

    def _embed(self, pixels: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Patch tokens plus their (resampled) position embeddings, behind the prefix tokens."""
        patches = self.patch_embed(pixels)
        batch = patches.shape[0]
        k = self.prefix_pos_tokens
        patches = patches + resample_pos_embed(self.pos_embed[:, k:], self.grid, grid, self.pos_embed_antialias)
        prefix = [t.expand(batch, -1, -1) for t in (self.cls_token, self.dist_token, self.reg_token) if t is not None]
        prefix = torch.cat(prefix, dim=1)
        if k:
            prefix = torch.cat([prefix[:, :k] + self.pos_embed[:, :k], prefix[:, k:]], dim=1)
        return torch.cat([prefix, patches], dim=1)

    def forward(self, pixels: torch.Tensor, return_attention: bool = False,
                keep: torch.Tensor | None = None) -> ViTOutput:
        """Classify a batch (B, 3, H, W); H and W need not match the trained size.

        `keep` (B, patches) bool runs each image on a subset of its patch tokens, each with
        its own position embedding. Rows that keep as many patches run as a really shorter
        sequence (the cost falls with what is dropped); otherwise the rest are masked out of
        every attention and of the patch mean, which gives the same numbers in one batch."""
        grid = self.grid_for(pixels.shape[-2], pixels.shape[-1])
        if grid[0] < 1 or grid[1] < 1:
            raise ValueError(f"input {tuple(pixels.shape[-2:])} is smaller than one patch")
        x = self._embed(pixels, grid)
        mask = None
        if keep is not None and not return_attention and _same_count(keep):
            x, keep = _kept_tokens(x, keep, self.num_prefix_tokens), None  # a really shorter sequence
        if keep is not None:
            prefix = torch.ones(keep.shape[0], self.num_prefix_tokens, dtype=torch.bool, device=keep.device)
            mask = torch.cat([prefix, keep.bool()], dim=1)[:, None, None, :]
        attentions, stack = [], None
        stacked = return_attention and not torch.is_grad_enabled()  # gradients need the originals
        for index, block in enumerate(self.blocks):
            x, attn = block(x, return_attention, mask)
            if stacked:  # each block's attention copied into one buffer as it comes, then let go:
                if stack is None:  # the peak is the stack plus one block, not twice the stack
                    shape = (attn.shape[0], len(self.blocks), *attn.shape[1:])  # on the CPU, pages reused:
                    stack = pooled_tensor(shape, attn.dtype) if attn.device.type == "cpu" else attn.new_empty(shape)
                stack[:, index] = attn
            else:
                attentions.append(attn)
        if stacked:
            attentions = list(stack.unbind(1))
        x = self.norm(x)
        patches = x[:, self.num_prefix_tokens :]
        if keep is None:
            patch_mean = patches.mean(dim=1) if patches.shape[1] else patches.new_zeros(patches.shape[0], patches.shape[2])
        else:
            weights = keep.to(patches.dtype)[..., None]
            patch_mean = (patches * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)
        logits = None
        if self.head is not None:
            read = torch.cat([x[:, 0], patch_mean], dim=-1) if self.head_input == "cls+mean" else x[:, 0]
            logits = self.head(read)
            if self.head_dist is not None:  # distilled DeiT at inference: the mean of both heads
                logits = (logits + self.head_dist(x[:, 1])) / 2
        return ViTOutput(logits, tuple(attentions) if return_attention else None, x[:, 0], patch_mean, stack)


def _same_count(keep: torch.Tensor) -> bool:
    counts = keep.sum(dim=1)
    return len(counts) > 0 and bool((counts == counts[0]).all())


def _kept_tokens(x: torch.Tensor, keep: torch.Tensor, prefix: int) -> torch.Tensor:
    """The prefix tokens and each row's kept patch tokens, in their order: the sequence token
    drop runs, as short as what is left of the photo (every row keeps as many)."""
    batch, _, width = x.shape
    count = int(keep[0].sum())
    index = torch.nonzero(keep, as_tuple=False)[:, 1].view(batch, count)  # row-major: each row's positions
    patches = torch.gather(x[:, prefix:], 1, index[..., None].expand(-1, -1, width))
    return torch.cat([x[:, :prefix], patches], dim=1)


@torch.no_grad()
def init_layers(part: nn.Module, generator: torch.Generator | None = None) -> None:
    """timm's initialisation of every LayerScale, LayerNorm and linear layer in `part`: for
    a new model, and, with a seeded generator, for the randomisation test, which draws a
    trained model's layers again one at a time."""
    for module in part.modules():
        if isinstance(module, LayerScale):
            module.gamma.fill_(1e-5)
        elif isinstance(module, LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, Affine):
            nn.init.trunc_normal_(module.weight, std=0.02, generator=generator)
            if module.bias is not None:
                module.bias.zero_()

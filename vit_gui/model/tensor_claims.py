"""What a checkpoint's tensors claim about the numbers they read, checked before anything is
copied: a pickle sets each tensor's strides and storage, so memory follows the file only if
no tensor reads a stored number twice and the names over one storage read no more than it
holds (issue #28, item 5). Honest sharing passes: q, k, v as chunks of a fused tensor, even
and odd slices, one tensor under a second name (tied weights)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vit_gui.errors import CheckpointError


def check_strides(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Memory must follow the file, yet a pickle sets each tensor's strides: before any copy, no
    tensor may read a number twice (a zero stride from .expand, overlapping ones), nor the names
    over one storage read more than it holds. Honest sharing passes: q, k, v as chunks of a fused
    tensor, even and odd slices, a tensor under a second name (tied weights, widened once)."""
    storages: dict[int, tuple[int, dict[tuple, list[str]]]] = {}  # address -> (bytes, view -> names)
    for name, tensor in tensors.items():
        if tensor.numel():
            _check_self_overlap(name, tensor, path)
            storage = tensor.untyped_storage()
            storages.setdefault(storage.data_ptr(), (storage.nbytes(), {}))[1].setdefault(tensor_view(tensor), []).append(name)
    for size, views in storages.values():
        if names := next((names for names in views.values() if len(names) > 2), None):
            raise CheckpointError(
                f"{path.name}: {_listed(names)} are one tensor under {len(names)} names; refused before copying "
                "it, as a second name (tied weights) costs nothing but each further one could cost a copy")
        read = sum(math.prod(shape) * dtype.itemsize for _, dtype, shape, _ in views)
        if read > size:
            item = min(dtype.itemsize for _, dtype, _, _ in views)
            raise CheckpointError(
                f"{path.name}: {_listed(names[0] for names in views.values())} read {read // item:,} numbers from "
                f"one stored block of {size // item:,}, so some are read twice; refused before copying them, "
                "as each copy would take memory the file does not hold")


def _listed(names) -> str:
    names = sorted(names)
    return (f"{names[0]!r}, {names[1]!r} and {len(names) - 2} other names" if len(names) > 3
            else ", ".join([*map(repr, names[:-2]), " and ".join(map(repr, names[-2:]))]))


def tensor_view(tensor: torch.Tensor) -> tuple:
    """What a tensor reads from its storage: two names with the same view are one tensor."""
    return tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tensor.stride()


def _check_self_overlap(name: str, tensor: torch.Tensor, path: Path) -> None:
    """Read once: each stride (smallest first) steps past all the smaller ones span, as in any torch view."""
    reach = 0  # the furthest element the smaller strides reach
    for stride, size, dim in sorted((st, sz, d) for d, (st, sz) in enumerate(zip(tensor.stride(), tensor.shape))
                                    if sz > 1):
        if stride <= reach:
            stored = tensor.untyped_storage().nbytes() // tensor.element_size()
            what = (f"repeats stored numbers ({tensor.numel():,} numbers drawn from {stored:,} stored, a zero "
                    "stride)") if stride == 0 else (
                f"reads stored numbers more than once: along its dimension {dim} it steps {stride:,} "
                f"number{'s' * (stride != 1)}, within the {reach + 1:,} numbers its other dimensions span (shape "
                f"{tuple(tensor.shape)}, strides {tensor.stride()})")
            raise CheckpointError(f"{path.name}: '{name}' {what}; refused before copying them, as a damaged or "
                                  "hostile file")
        reach += (size - 1) * stride


def stored_numbers(state: dict[str, torch.Tensor]) -> int:
    """Numbers held: each storage's distinct views, never past its bytes (expanded or overlapping
    tensors hold no more), and a tensor under a second name (tied: one copy) under each."""
    storages: dict[int, list[int]] = {}  # address -> [bytes, smallest element, numbers read, numbers tied]
    views = set()
    for tensor in state.values():
        storage = tensor.untyped_storage()
        entry = storages.setdefault(storage.data_ptr(), [storage.nbytes(), tensor.element_size(), 0, 0])
        entry[1] = min(entry[1], tensor.element_size())
        tied = tensor_view(tensor) in views
        entry[3 if tied else 2] += min(tensor.numel(), entry[0] // tensor.element_size()) if tied else tensor.numel()
        views.add(tensor_view(tensor))
    return sum(min(read, size // item) + tied for size, item, read, tied in storages.values())

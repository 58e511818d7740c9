"""Time from launch to the window shown and to its model ready: the frozen build vs
`python -m vit_gui`, on an idle machine.

Each launch sets VIT_GUI_REPORT_SHOWN and VIT_GUI_REPORT_READY, so the app writes the
wall-clock time at which its first event-loop turn after show() ran and the time its default
model (the built-in backbone) finished loading, then quits. Launches alternate between the
two programs; medians of --runs each. Also records the size of dist/vit-gui/.
Usage: python benchmarks/startup.py [--runs 7]   (build first: bash scripts/package.sh)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "dist" / "vit-gui" / ("vit-gui.exe" if os.name == "nt" else "vit-gui")


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def launch(command: list[str], data_dir: str) -> tuple[float, float]:
    """(seconds to the window shown, seconds to the model ready)."""
    folder = Path(tempfile.mkdtemp())
    env = {**os.environ, "VIT_GUI_REPORT_SHOWN": str(folder / "shown"), "VIT_GUI_REPORT_READY": str(folder / "ready"),
           "VIT_GUI_DATA_DIR": data_dir}
    env.setdefault("QT_QPA_PLATFORM", "offscreen" if "DISPLAY" not in env else "xcb")
    start = time.time()
    subprocess.run(command, env=env, check=True, timeout=120, capture_output=True)
    ready = (folder / "ready").read_text()
    if ready == "none":
        raise SystemExit(f"{command[0]}: no model found to load")
    return float((folder / "shown").read_text()) - start, float(ready) - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if not FROZEN.exists():
        raise SystemExit(f"{FROZEN} is missing: run `bash scripts/package.sh` first")
    data_dir = tempfile.mkdtemp()
    programs = {"frozen (dist/vit-gui/vit-gui)": [str(FROZEN)],
                "python -m vit_gui": [sys.executable, "-m", "vit_gui"]}
    for command in programs.values():
        launch(command, data_dir)  # one warm-up each: page cache, font cache, matplotlib cache
    times = {name: [] for name in programs}
    for _ in range(args.runs):
        for name, command in programs.items():
            times[name].append(launch(command, data_dir))
    size = folder_size(FROZEN.parent)
    platform_name = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if "DISPLAY" in os.environ else "offscreen")
    lines = [
        f"Qt platform: {platform_name}. {args.runs} launches each, alternating, after one warm-up each.",
        "",
        "| program | launch → window shown (median; min–max) | launch → model ready (median; min–max) |",
        "| --- | --- | --- |",
    ]
    for name, samples in times.items():
        shown, ready = [s for s, _ in samples], [r for _, r in samples]
        lines.append(f"| {name} | {1000 * statistics.median(shown):.0f} ms ({1000 * min(shown):.0f}–"
                     f"{1000 * max(shown):.0f}) | {statistics.median(ready):.2f} s ({min(ready):.2f}–{max(ready):.2f}) |")
    frozen, source = times["frozen (dist/vit-gui/vit-gui)"], times["python -m vit_gui"]
    ratio = statistics.median([s for s, _ in frozen]) / statistics.median([s for s, _ in source])
    lines += ["", f"Window shown, frozen / source: {ratio:.2f}. The model ready: the built-in DINOv2 ViT-S/14 "
              "(the default model) loaded on the worker thread, `import torch` included.", "",
              f"Size of dist/vit-gui/: {size / 1e6:.0f} MB ({size:,} bytes), the built-in model included."]
    write_results("startup", "Package: size, time to window and to model ready", lines)


if __name__ == "__main__":
    main()

"""The GUI thread's longest stall while the window classifies a batch of 32 real JPEGs.

Drives the real window offscreen with a random-weight ViT-B/16, a 10 ms heartbeat QTimer
on the GUI thread recording the gaps between its ticks. Writes benchmarks/results/gui.md.
Usage: python benchmarks/gui_stall.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def one_run(model: Path, folder: Path) -> dict:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.settings import Settings

    app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings(QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)))
    window.show()
    window.add_model_file(str(model))
    while window.model_info is None:
        app.processEvents()
        time.sleep(0.005)
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    start = time.perf_counter()
    window.add_paths([str(folder)])
    while window.is_busy():
        app.processEvents()
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    timer.stop()
    window.close()
    return {"longest": max(gaps), "median": statistics.median(gaps), "batch_s": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import torch
    from PIL import Image

    from vit_gui.model.vit import VisionTransformer

    work = Path(tempfile.mkdtemp())
    os.environ["VIT_GUI_DATA_DIR"] = str(work / "data")
    torch.manual_seed(0)
    torch.save(VisionTransformer(embed_dim=768, depth=12, num_heads=12, num_classes=1000).state_dict(), work / "vitb.pth")
    folder = work / "photos"
    folder.mkdir()
    samples = sorted((ROOT / "resources" / "samples").glob("*.jpg"))
    for i in range(32):
        Image.open(samples[i % len(samples)]).save(folder / f"{i:02d}.jpg", quality=90)
    runs = [one_run(work / "vitb.pth", folder) for _ in range(args.runs)]
    lines = ["Offscreen window, random-weight ViT-B/16 at 224, 32 real JPEGs dropped as a folder, a 10 ms "
             "heartbeat QTimer on the GUI thread.", "",
             "| run | longest gap between ticks | median gap | batch time |", "| --- | --- | --- | --- |"]
    for i, r in enumerate(runs, 1):
        lines.append(f"| {i} | {1000 * r['longest']:.0f} ms | {1000 * r['median']:.1f} ms | {r['batch_s']:.1f} s |")
    lines += ["", f"Median of the longest gaps: {1000 * statistics.median(r['longest'] for r in runs):.0f} ms "
              "(the test suite's bound is 250 ms)."]
    write_results("gui", "GUI responsiveness during a batch", lines)


if __name__ == "__main__":
    main()

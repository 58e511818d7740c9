"""A folder of 10,000 photos dropped on the window: how long the drop holds the GUI thread, the
longest stall while the batch runs, and memory (RSS) as the photos finish, for 500, 2,000 and
10,000 photos, each size in a fresh process.

The model is benchmarks/folders.py's small random-weight ViT-Ti (so the window, not the model,
is what is measured) and its photos (160x120 JPEGs). A 10 ms QTimer on the GUI thread measures
stalls: the longest gap between its ticks, minus 10 ms. Writes benchmarks/results/window_folders.md.
Usage: python benchmarks/window_folders.py [--sizes 500,2000,10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402

TICK_MS = 10


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_run(model: str, folder: str) -> None:
    """Runs in a fresh process: open the window, load the model, drop the folder, wait."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from common import peak_rss
    from gui_stall import wait_until_idle
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.settings import Settings

    app = QApplication([])
    settings = Settings(QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings)
    window.show()
    window.models.add_file(model)
    while window.models.info is None:
        app.processEvents()
        time.sleep(0.005)
    wait_until_idle(window)
    before = rss_mb()
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    samples: list[tuple[float, int, float]] = []

    def sample() -> None:
        done = sum(d for d, _ in window.batches.running.values())
        samples.append((time.perf_counter() - start, done, rss_mb()))

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(TICK_MS)
    sampler = QTimer()
    sampler.timeout.connect(sample)
    sampler.start(1000)
    start = time.perf_counter()
    window.intake.add_paths([folder])
    drop = time.perf_counter() - start
    wait_until_idle(window)
    total = time.perf_counter() - start
    timer.stop()
    sampler.stop()
    stalls = sorted((g * 1000 - TICK_MS for g in gaps), reverse=True)
    errors = sum(1 for record in window.session.records.values() if record.error)
    print(json.dumps({"drop_s": drop, "total_s": total, "longest_ms": stalls[0], "p99_ms": stalls[len(stalls) // 100],
                      "over_50": sum(1 for s in stalls if s > 50), "rss_before": before, "rss_end": rss_mb(),
                      "peak": peak_rss() / 2**20, "cache_mb": window.session.cache_bytes / 2**20,
                      "items": len(window.session.records), "errors": errors,
                      "samples": [(round(t, 1), d, round(r)) for t, d, r in samples]}))
    window.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_run(*args.child)
        return 0
    import folders

    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp())
    weights = folders.model(work)
    rows = []
    for n in sizes:
        folder = folders.photos(work / f"photos-{n}", n)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VIT_GUI_DATA_DIR": str(work / f"data-{n}")}
        done = subprocess.run([sys.executable, __file__, "--child", str(weights), str(folder)], env=env,
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((n, result))
        print(n, {k: v for k, v in result.items() if k != "samples"}, flush=True)
    lines = [f"Commit {git_revision()}. Model: benchmarks/folders.py's random-weight ViT-Ti/16 (4 blocks, 224 px); "
             "photos: its 160x120 JPEGs. Each size in a fresh process: the window opened offscreen, the model "
             "loaded, the folder given to `add_paths` (what a drop does), then Qt's event loop run until the batch "
             f"ends. Stalls: the longest gap between a {TICK_MS} ms timer's ticks on the GUI thread, minus {TICK_MS} "
             "ms. RSS from /proc (peak: VmHWM).", "",
             "| photos | drop (GUI thread) | batch | photos/s | longest stall | 99th pct stall | stalls > 50 ms "
             "| RSS before drop | RSS at the end | peak RSS | map cache | errors |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, r in rows:
        lines.append(f"| {n:,} | {r['drop_s'] * 1000:.0f} ms | {r['total_s']:.1f} s | {n / r['total_s']:.1f} | "
                     f"{r['longest_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['over_50']} | {r['rss_before']:.0f} MB | "
                     f"{r['rss_end']:.0f} MB | {r['peak']:.0f} MB | {r['cache_mb']:.0f} MB | {r['errors']} |")
    n, r = rows[-1]
    lines += ["", f"RSS while the {n:,} photos ran (seconds since the drop, photos done, MB):", "",
              "| s | done | RSS |", "| --- | --- | --- |"]
    step = max(1, len(r["samples"]) // 12)
    lines += [f"| {t} | {d:,} | {m} |" for t, d, m in r["samples"][::step]]
    write_results("window_folders", "A folder of 10,000 photos dropped on the window", lines + [""])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

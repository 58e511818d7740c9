"""Does the window keep pace with its model, and does its GUI thread stay responsive?

The real window (offscreen) classifies a folder of 32 real photos with the built-in DINOv2
ViT-S/14. Each run measures, in one process and in turn: the model alone on the same photos
(decoded beforehand, the window's grouping, attentions kept, as the window needs them for
its maps), the same with decoding, and the window from drop to done, with a 10 ms heartbeat
QTimer on the GUI thread recording the gaps between its ticks. Where the window's time goes
is measured by timing the worker's steps (decode, model, thumbnails and display images) and
by profiling the GUI thread.

Writes benchmarks/results/gui.md. Usage: python benchmarks/gui_stall.py [--runs 3] [--photos 32]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("decode", "model", "thumbnail and display image")


def make_photos(folder: Path, count: int) -> list[Path]:
    """Real photos of several sizes: the samples and scikit-image's, re-saved as JPEGs."""
    import skimage.data as data
    from PIL import Image

    sources = [Image.open(p).convert("RGB") for p in sorted((ROOT / "resources" / "samples").glob("*.jpg"))]
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"):
        sources.append(Image.fromarray(getattr(data, name)()))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = sources[i % len(sources)]
        scale = (1.0, 2.0, 3.0, 0.5)[i % 4]  # up to ~1800x1500: phone-photo sizes
        sized = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.BILINEAR)
        path = folder / f"{i:02d}.jpg"
        sized.save(path, quality=90)
        paths.append(path)
    return paths


class StepClock:
    """Seconds spent in each of the worker's steps, patched around its functions."""

    def __init__(self):
        self.seconds = dict.fromkeys(STEPS, 0.0)

    def wrap(self, owner, name: str, step: str):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[step] += time.perf_counter() - start

        setattr(owner, name, timed)
        return original


def model_alone(predictor, paths: list[Path], group: int) -> tuple[float, float]:
    """(seconds for the model on decoded photos, seconds including decoding), the window's grouping."""
    from vit_gui.images import load_image

    start = time.perf_counter()
    images = [load_image(path).image for path in paths]
    decoded = time.perf_counter()
    for i in range(0, len(images), group):
        predictor.predict(images[i : i + group], with_attentions=True)
    end = time.perf_counter()
    return end - decoded, end - start


def wait_until_idle(window) -> None:
    """Run Qt's own event loop (which sleeps when there is nothing to do, as in the app) until
    the window has finished its batch; a busy polling loop here would steal the model's CPU."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    check = QTimer()
    check.timeout.connect(lambda: None if window.batches.is_busy() else loop.quit())
    check.start(20)
    loop.exec()
    check.stop()


def window_run(model: Path, folder: Path, profile: bool) -> dict:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    import vit_gui.gui.worker as worker_module
    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.settings import Settings

    app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings(QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat)))
    window.show()
    window.models.add_file(str(model))
    while window.models.info is None:
        app.processEvents()
        time.sleep(0.005)
    wait_until_idle(window)  # the model's own start-up work (its first map, the warm-up) is not timed
    clock = StepClock()
    worker, predictor = window.worker, window.worker.predictor
    originals = [(worker_module, "_finish", clock.wrap(worker_module, "_finish", "thumbnail and display image"))]
    clock.wrap(worker, "_load", "decode")
    clock.wrap(predictor, "predict", "model")
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    window.intake.add_paths([str(folder)])
    wait_until_idle(window)
    elapsed = time.perf_counter() - start
    if profiler:
        profiler.disable()
    timer.stop()
    for owner, name, original in originals:
        setattr(owner, name, original)
    del worker._load, predictor.predict  # the instance attributes go; the class's methods show again
    window.close()
    app.processEvents()
    hot = []
    if profiler:
        stats = pstats.Stats(profiler)
        rows = [(value[3], f"{func[2]} ({Path(func[0]).name}:{func[1]})") for func, value in stats.stats.items()
                if "vit_gui" in func[0] and "gui_stall" not in func[0]]
        hot = sorted(rows, reverse=True)[:8]
    return {"longest": max(gaps), "over_50": sum(g > 0.05 for g in gaps), "batch_s": elapsed,
            "steps": clock.seconds, "hot": hot}


def child_run(model: str, folder: str, profile: str) -> None:
    """The model alone, then the window, in this process; prints the figures as JSON."""
    from vit_gui.gui.worker import GROUP_MAX
    from vit_gui.predict import Predictor

    paths = sorted(Path(folder).glob("*.jpg"))
    predictor = Predictor.from_file(model)
    model_alone(predictor, paths[:GROUP_MAX], GROUP_MAX)  # warm-up
    alone, with_decoding = model_alone(predictor, paths, GROUP_MAX)
    del predictor
    window = window_run(Path(model), Path(folder), profile=profile == "1")
    print(json.dumps({**window, "alone": alone, "with_decoding": with_decoding}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one run in this process: model folder, photos folder
    args = parser.parse_args()
    if args.child:
        child_run(*args.child.split(","))
        return
    from vit_gui.gui.worker import GROUP_MAX
    from vit_gui.model.catalog import discover_models

    model = next(e.path for e in discover_models() if "dinov2" in e.path.name)
    work = Path(tempfile.mkdtemp())
    os.environ["VIT_GUI_DATA_DIR"] = str(work / "data")  # the window's settings and caches: a scratch folder
    make_photos(work / "photos", args.photos)
    runs = []
    for number in range(args.runs):  # each run in a fresh process: no window, thread or cache of an earlier run
        out = subprocess.run([sys.executable, __file__, "--child", f"{model},{work / 'photos'},{int(number == 0)}"],
                             capture_output=True, text=True, check=True, env=os.environ)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(f"run {number + 1}: model {run['alone']:.2f} s, with decoding {run['with_decoding']:.2f} s, window "
              f"{run['batch_s']:.2f} s, longest stall {1000 * run['longest']:.0f} ms", flush=True)
    lines = [f"Commit {git_revision()}. Offscreen window, the built-in DINOv2 ViT-S/14 (float32), {args.photos} real "
             f"photos (the samples and scikit-image's, 0.5x to 3x their size, up to about 1800x1500) dropped as a "
             f"folder; the model alone runs the same photos in the window's groups of {GROUP_MAX} with attentions "
             "kept. A 10 ms heartbeat QTimer on the GUI thread.", "",
             "| run | model alone | model with decoding | window, drop to done | window / model alone | "
             "longest GUI stall | stalls over 50 ms |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate(runs, 1):
        lines.append(f"| {i} | {r['alone']:.2f} s | {r['with_decoding']:.2f} s | {r['batch_s']:.2f} s | "
                     f"{r['batch_s'] / r['alone']:.2f}× | {1000 * r['longest']:.0f} ms | {r['over_50']} |")
    ratio = statistics.median(r["batch_s"] / r["alone"] for r in runs)
    lines += ["", f"Median: window / model alone **{ratio:.2f}×**; longest GUI stall "
              f"**{1000 * statistics.median(r['longest'] for r in runs):.0f} ms** (median of {len(runs)} runs).", "",
              "Where the window's worker spends its time (median over the runs, seconds):", "",
              "| step | seconds |", "| --- | --- |"]
    for step in STEPS:
        lines.append(f"| {step} | {statistics.median(r['steps'][step] for r in runs):.2f} |")
    lines += ["", "The GUI thread's own code during run 1 (cumulative seconds, profiled):", "",
              "| function | seconds |", "| --- | --- |"]
    lines += [f"| {name} | {seconds:.3f} |" for seconds, name in runs[0]["hot"]]
    write_results("gui", "The window against its model: pace and GUI stalls", lines)


if __name__ == "__main__":
    main()

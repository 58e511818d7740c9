"""Screenshots of the real window with the real built-in backbone, as a user sees it.

Scenes: launch (first start with the built-in backbone, nothing dropped yet), results (three photos classified, the
rollout with its legend), blocks (every block), atlas (every block x head), class (class evidence), compare
(the split between photo and map), check ("Check this map"). Class names need a model
with classes: the backbone is taught four classes (cat, coffee, rocket, astronaut) from
crops of scikit-image's photos, in a scratch folder, first.

Run it on a display, e.g. a virtual one:
    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshot.py --scene results
    ... --all   (every scene at 1280x800 and 1920x1080 into docs/screenshots/, and docs/screenshot.png)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resources" / "samples"
SCENES = ("launch", "results", "blocks", "atlas", "class", "compare", "check")
SIZES = ((1280, 800), (1920, 1080))


def builtin() -> Path:
    """The built-in backbone, what a first launch after setup finds."""
    from vit_gui.model.catalog import default_model_path

    return default_model_path()


def teach_demo_model(work: Path) -> Path:
    """A classifier of four classes on the built-in backbone, from crops of real photos."""
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(0)
    data = work / "photos"
    for name in ("chelsea", "coffee", "rocket", "astronaut"):
        picture = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        label = {"chelsea": "cat"}.get(name, name)
        (data / label).mkdir(parents=True, exist_ok=True)
        for i in range(12):
            side = int(rng.integers(min(picture.shape[:2]) // 2, min(picture.shape[:2])))
            y, x = rng.integers(0, picture.shape[0] - side + 1), rng.integers(0, picture.shape[1] - side + 1)
            Image.fromarray(picture[y : y + side, x : x + side]).save(data / label / f"{i:02d}.png")
    out = work / "four-photos.safetensors"
    subprocess.run([sys.executable, "-m", "vit_gui", "teach", str(data), "-o", str(out), "--name",
                    "DINOv2 ViT-S/14 + four taught classes"], check=True, capture_output=True)
    return out


def shoot_scene(scene: str, size: tuple[int, int], out: Path, model: Path) -> None:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from vit_gui.gui.app import prepare_environment
    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.map_controls import VIEW_ATLAS, VIEW_BLOCKS
    from vit_gui.gui.settings import Settings

    prepare_environment()
    work = Path(tempfile.mkdtemp())
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)))
    window.resize(*size)
    window.show()
    state = {"stage": "load"}
    photos = [SAMPLES / "chelsea.jpg", SAMPLES / "coffee.jpg", SAMPLES / "rocket.jpg"]

    def step():
        view = window.attention
        if state["stage"] == "load":
            if window.model_info is None:
                if not state.get("added"):
                    state["added"] = True
                    window.add_model_file(str(model))
            elif scene == "launch":
                state["stage"] = "shoot"
            else:
                window.add_paths([str(p) for p in photos])
                state["stage"] = "classify"
        elif state["stage"] == "classify" and not window.is_busy() and view.current_map is not None:
            key = window.results.keys()[0]
            window.results.select_key(key)
            window.results.topLevelItem(0).setExpanded(True)
            view.opacity.setValue(60)
            if scene in ("atlas", "blocks"):
                view.view.setCurrentIndex(VIEW_ATLAS if scene == "atlas" else VIEW_BLOCKS)
            elif scene == "class":
                record = window.session.records[key]
                window.results.click_class(key, record.top[0].index)
            elif scene == "compare":
                view.compare.setValue(50)
            elif scene == "check":
                view.check.click()
            state["stage"] = "settle"
        elif state["stage"] == "settle":
            if view.computing or view.checking or (scene == "class" and view.current_map is None):
                pass
            elif scene in ("atlas", "blocks") and view.tile_count() == 0:
                pass
            else:
                state["stage"] = "shoot"
        if state["stage"] == "shoot":
            QTimer.singleShot(800, shoot)
            return
        QTimer.singleShot(200, step)

    def shoot():
        app.processEvents()
        picture = window.screen().grabWindow(window.winId())
        out.parent.mkdir(parents=True, exist_ok=True)
        picture.save(str(out))
        print(f"saved {out} ({picture.width()}x{picture.height()})")
        window.close()
        app.quit()

    QTimer.singleShot(300, step)
    app.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", choices=SCENES, default="results")
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--model", type=Path, help="default: the built-in backbone taught four classes")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--all", action="store_true", help="every scene at both sizes (one process each)")
    args = parser.parse_args()
    if args.all:
        model = args.model or teach_demo_model(Path(tempfile.mkdtemp()))
        for scene in SCENES:
            for width, height in SIZES:
                out = ROOT / "docs" / "screenshots" / f"{scene}-{width}x{height}.png"
                subprocess.run([sys.executable, __file__, "--scene", scene, "--size", f"{width}x{height}",
                                "--model", str(builtin() if scene == "launch" else model), "--out", str(out)],
                               check=True, env=os.environ)
        (ROOT / "docs" / "screenshot.png").write_bytes((ROOT / "docs" / "screenshots" / "results-1280x800.png")
                                                       .read_bytes())
        return 0
    model = args.model or teach_demo_model(Path(tempfile.mkdtemp()))
    width, height = (int(v) for v in args.size.split("x"))
    out = args.out or ROOT / "docs" / "screenshots" / f"{args.scene}-{width}x{height}.png"
    shoot_scene(args.scene, (width, height), out, model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

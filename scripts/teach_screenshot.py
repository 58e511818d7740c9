"""Screenshot of the Teach window's report on a real task, under a real X server.

Four classes cut from scikit-image's real photos (brick, grass, gravel, a Hubble field),
taught on the best installed model (after setup: the built-in DINOv2 backbone).
Usage: xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python scripts/teach_screenshot.py [--out docs/teach.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_task(root: Path, per_class: int = 16, side: int = 112) -> Path:
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, source in (("brick", "brick"), ("grass", "grass"), ("gravel", "gravel"), ("stars", "hubble_deep_field")):
        picture = np.asarray(Image.fromarray(getattr(skimage.data, source)()).convert("RGB"))
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            y, x = rng.integers(0, picture.shape[0] - side), rng.integers(0, picture.shape[1] - side)
            Image.fromarray(picture[y : y + side, x : x + side]).save(root / name / f"{i:02d}.png")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "teach.png")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from vit_gui.gui.app import prepare_environment
    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.settings import Settings
    from vit_gui.model.catalog import default_model_path

    prepare_environment()
    work = Path(tempfile.mkdtemp())
    data = make_task(work / "textures")
    app = QApplication(sys.argv[:1])
    window = MainWindow(Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)))
    window.show()
    state = {"stage": "load"}

    def step():
        if state["stage"] == "load" and window.model_info is None:
            window.add_model_file(str(default_model_path()))
            state["stage"] = "wait"
        elif state["stage"] == "wait" and window.model_info is not None:
            window.teach_dialog()
            window.teach_window.set_folders([data])
            window.teach_window.start_teaching()
            state["stage"] = "teach"
        elif state["stage"] == "teach" and window.teach_window.result is not None:
            QTimer.singleShot(800, shoot)
            return
        QTimer.singleShot(200, step)

    def shoot():
        app.processEvents()
        teach = window.teach_window
        picture = teach.screen().grabWindow(teach.winId())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        picture.save(str(args.out))
        print(f"saved {args.out} ({picture.width()}x{picture.height()}): {teach.summary.text()}")
        window.close()
        app.quit()

    QTimer.singleShot(300, step)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())

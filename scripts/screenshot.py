"""Take docs/screenshot.png: the real window with a photo classified and its rollout overlay.

Run it on a display, e.g. a virtual one:
    xvfb-run -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshot.py

It uses the best installed model (or --model FILE): after the README's setup, the built-in
real DINOv2 backbone.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--image", type=Path, default=ROOT / "resources" / "samples" / "chelsea.jpg")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--check", action="store_true", help="run 'Check this map' and wait for its plot")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from vit_gui.gui.app import prepare_environment
    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.settings import Settings
    from vit_gui.model.catalog import default_model_path

    prepare_environment()
    work = Path(tempfile.mkdtemp())
    model = args.model or default_model_path()
    app = QApplication(sys.argv[:1])
    window = MainWindow(Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)))
    window.resize(1360, 860)
    window.show()
    state = {"added": False}

    def step():
        if window.model_info is None:
            if not state["added"]:
                state["added"] = True
                window.add_model_file(str(model))
        elif not window.session.records:
            window.add_paths([str(args.image)])
        elif window.is_busy() or window.attention.current_map is None:
            pass
        else:
            key = window.results.keys()[0]
            window.results.topLevelItem(0).setExpanded(True)
            window.results.select_key(key)
            window.attention.opacity.setValue(55)
            if args.check and not state.get("checked"):
                state["checked"] = True
                window.attention.check.click()
            if args.check and (window.attention.checking or not window.attention.check_plot.isVisible()):
                QTimer.singleShot(200, step)
                return
            QTimer.singleShot(800, shoot)
            return
        QTimer.singleShot(200, step)

    def shoot():
        app.processEvents()
        picture = window.screen().grabWindow(window.winId())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        picture.save(str(args.out))
        print(f"saved {args.out} ({picture.width()}x{picture.height()}) with {window.model_info.name}")
        window.close()
        app.quit()

    QTimer.singleShot(300, step)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())

"""Screenshots of the real app with the real built-in backbone, as a user sees it: the whole
screen, so a window that does not fit shows it.

Scenes: launch (first start with the built-in backbone), results (three photos classified,
the rollout with its legend), blocks, atlas, class (class evidence), compare, check-backbone
and check-taught ("Can I trust this map?" on the backbone and on a taught model), believe
("Which map should I believe?"), shown-best (the same after "Show the best map"), teach (the Teach window's report),
shortcuts (the Teach window's "Check for shortcuts…" on a folder whose "marked" class carries a logo at one spot:
the known answer of vit_gui.audit.known), help, getmodels. Class
names need a model with classes: the backbone is taught four classes (cat, coffee, rocket,
astronaut) from crops of scikit-image's photos, in a scratch folder, first.

Run it on a display, e.g. a virtual one of a laptop's size:
    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot.py --scene results
    .venv/bin/python scripts/screenshot.py --all   (every scene at 1280x800 and 1366x768, each on its own
                                                     Xvfb, into docs/screenshots/, and docs/screenshot.png)
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
SCENES = ("launch", "results", "blocks", "atlas", "class", "compare", "check-backbone", "check-taught", "believe",
          "shown-best", "teach", "shortcuts", "help", "getmodels", "two-models",
          "two-models-zoomed")
SIZES = ((1280, 800), (1366, 768))
ON_THE_BACKBONE = ("launch", "check-backbone", "teach", "shortcuts", "help", "getmodels")


def builtin() -> Path:
    """The built-in backbone, what a first launch after setup finds."""
    from vit_gui.model.catalog import default_model_path

    return default_model_path()


def crops(data: Path) -> Path:
    """Four classes of crops of scikit-image's photos."""
    import numpy as np
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("chelsea", "coffee", "rocket", "astronaut"):
        picture = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        label = {"chelsea": "cat"}.get(name, name)
        (data / label).mkdir(parents=True, exist_ok=True)
        for i in range(12):
            side = int(rng.integers(min(picture.shape[:2]) // 2, min(picture.shape[:2])))
            y, x = rng.integers(0, picture.shape[0] - side + 1), rng.integers(0, picture.shape[1] - side + 1)
            Image.fromarray(picture[y : y + side, x : x + side]).save(data / label / f"{i:02d}.png")
    return data


def teach_demo_model(work: Path) -> Path:
    """A classifier of four classes on the built-in backbone, from crops of real photos."""
    out = work / "four-photos.safetensors"
    subprocess.run([sys.executable, "-m", "vit_gui", "teach", str(crops(work / "photos")), "-o", str(out), "--name",
                    "DINOv2 ViT-S/14 + four taught classes"], check=True, capture_output=True)
    return out


def real_photo_folder(work: Path) -> Path:
    """Every distinct real photo the stack ships, as files (the side-by-side window's folder)."""
    from PIL import Image

    from vit_gui.explain.planted import real_photos

    folder = work / "real-photos"
    folder.mkdir(parents=True, exist_ok=True)
    for name, pixels in real_photos().items():
        Image.fromarray(pixels).save(folder / f"{name}.jpg", quality=92)
    return folder


def logo_folder(work: Path) -> Path:
    """Classes "marked" and "plain" cut from the same real photos, "marked" with scikit-image's
    logo at one spot (the audit's known answer)."""
    from vit_gui.audit.known import planted_logo
    from vit_gui.explain.planted import real_photos

    return planted_logo(work / "logo", real_photos(), per_photo=6, fixed=True).root


def shoot_page(page: Path, out: Path, size) -> None:
    """A browser's view of `page` (headless Chromium, Debian's `chromium` package) at the screen's size."""
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={size.width()},{size.height()}", f"--screenshot={out}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    print(f"saved {out}")


def shoot_scene(scene: str, out: Path, model: Path, other: Path | None = None) -> None:
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from vit_gui.gui.app import prepare_environment
    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.settings import Settings
    from vit_gui.map_state import VIEW_ATLAS, VIEW_BLOCKS

    prepare_environment()
    work = Path(tempfile.mkdtemp())
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)))
    window.show()
    state = {"stage": "load"}
    photos = [SAMPLES / "chelsea.jpg", SAMPLES / "coffee.jpg", SAMPLES / "rocket.jpg"]

    def check_window():
        return window.checks.window

    def shortcut_check():
        return getattr(window.models.teach_window, "shortcuts", None)

    def ready() -> bool:
        """Whether what the scene shows has finished arriving."""
        view = window.map_view
        if scene in ("check-backbone", "check-taught", "believe", "shown-best"):
            return check_window() is not None and not check_window().busy
        if scene == "teach":
            return window.models.teach_window.result is not None
        if scene == "shortcuts":
            return shortcut_check() is not None and shortcut_check().outcome is not None
        if scene.startswith("two-models"):
            compare = window.comparing.windows[0]
            if scene.endswith("zoomed") and not state.get("zoomed") and not compare.busy:
                state["zoomed"] = True
                compare.states[1].zoom_at(2.5, at=(0.55, 0.35))  # on B's photo: A follows
                return False
            return not compare.busy and all(side.view.current_map is not None and not side.view.computing
                                            for side in compare.sides)
        if view.computing or (scene == "class" and view.current_map is None):
            return False
        return not (scene in ("atlas", "blocks") and view.tile_count() == 0)

    def step():
        view = window.map_view
        if state["stage"] == "load":
            if window.models.info is None:
                if not state.get("added"):
                    state["added"] = True
                    window.models.add_file(str(model))
            elif scene in ("launch",):
                state["stage"] = "shoot"
            elif scene == "help":
                window.menus.help_page()
                state["stage"] = "shoot"
            elif scene == "getmodels":
                from vit_gui.gui.get_models import GetModelsDialog

                state["dialog"] = GetModelsDialog(window)
                state["dialog"].show()
                state["stage"] = "shoot"
            elif scene.startswith("two-models") and window.models.loaded != str(model):
                pass  # the model first loaded (the built-in one) is not yet the one asked for
            elif scene.startswith("two-models"):
                window.comparing.open(str(other), [str(real_photo_folder(work))])
                state["stage"] = "settle"
            elif scene in ("teach", "shortcuts"):
                window.models.teach_dialog()
                window.models.teach_window.set_folders([crops(work / "photos") if scene == "teach" else logo_folder(work)])
                window.models.teach_window.start_teaching()
                state["stage"] = "taught" if scene == "shortcuts" else "settle"
            else:
                window.intake.add_paths([str(p) for p in photos])
                state["stage"] = "classify"
        elif state["stage"] == "classify" and not window.batches.is_busy() and view.current_map is not None:
            key = window.results.keys()[0]
            window.results.select_key(key)
            window.results.topLevelItem(0).setExpanded(True)
            window.map_controls.opacity.setValue(60)
            if scene in ("atlas", "blocks"):
                window.map_controls.view.setCurrentIndex(VIEW_ATLAS if scene == "atlas" else VIEW_BLOCKS)
            elif scene == "class":
                record = window.session.records[key]
                window.results.click_class(key, record.top[0].index)
            elif scene == "compare":
                view.compare.setValue(50)
            elif scene.startswith("check") or scene in ("believe", "shown-best"):
                view.check.click()
            state["stage"] = "settle"
        elif state["stage"] == "taught" and window.models.teach_window.result is not None:
            window.models.teach_window.check_shortcuts.click()
            state["stage"] = "settle"
        elif state["stage"] == "settle" and ready():
            if scene in ("believe", "shown-best") and not state.get("asked"):
                state["asked"] = True
                check_window().compare.click()  # busy at once, until every map is judged
            elif scene == "shown-best" and not state.get("shown"):
                state["shown"] = True
                check_window().show_best.click()  # the best map in the main window, the words its own
            elif not view.computing:
                state["stage"] = "shoot"
        if state["stage"] == "shoot":
            QTimer.singleShot(1200, shoot)
            return
        QTimer.singleShot(200, step)

    def shoot():
        app.processEvents()
        picture = app.primaryScreen().grabWindow(0)  # the whole screen: a window that does not fit shows it
        out.parent.mkdir(parents=True, exist_ok=True)
        picture.save(str(out))
        print(f"saved {out} ({picture.width()}x{picture.height()})")
        for shown in app.topLevelWidgets():
            if shown.isVisible() and shown.isWindow():
                print(f"  {type(shown).__name__}: frame {shown.frameGeometry().getRect()}")
        if scene == "shortcuts":  # the same check saved as a web page, as a browser shows it at this size
            page = shortcut_check().save_page_to(work / "shortcuts.html")
            stem = out.stem.replace("shortcuts", "shortcuts-page") if "shortcuts" in out.stem else f"{out.stem}-page"
            shoot_page(page, out.with_name(stem + out.suffix), picture.size())
        window.close()
        app.quit()

    QTimer.singleShot(300, step)
    app.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", choices=SCENES, default="results")
    parser.add_argument("--model", type=Path, help="default: the built-in backbone taught four classes")
    parser.add_argument("--other", type=Path, help="two-models: the model set beside --model")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--all", action="store_true", help="every scene at both sizes (one Xvfb each)")
    args = parser.parse_args()
    if args.all:
        model = args.model or teach_demo_model(Path(tempfile.mkdtemp()))
        for scene in SCENES:
            for width, height in SIZES:
                out = ROOT / "docs" / "screenshots" / f"{scene}-{width}x{height}.png"
                subprocess.run(["xvfb-run", "-a", "-s", f"-screen 0 {width}x{height}x24", sys.executable, __file__,
                                "--scene", scene, "--model", str(builtin() if scene in ON_THE_BACKBONE else model),
                                "--other", str(builtin()),
                                "--out", str(out)], check=True, env=os.environ)
        (ROOT / "docs" / "screenshot.png").write_bytes((ROOT / "docs" / "screenshots" / "results-1280x800.png")
                                                       .read_bytes())
        return 0
    model = args.model or (builtin() if args.scene in ON_THE_BACKBONE else teach_demo_model(Path(tempfile.mkdtemp())))
    out = args.out or ROOT / "docs" / "screenshots" / f"{args.scene}.png"
    shoot_scene(args.scene, out, model, args.other)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

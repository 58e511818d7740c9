"""`vit-gui --self-test`: prove a build works end to end, with no display and no user.

Loads the default model (or --model FILE), classifies a bundled real photo, computes a
rollout, writes an overlay PNG to a temporary folder and reads it back, runs the shortcut
check (scikit-learn and scipy) on a few photos made from the bundled ones, then opens and
closes the main window offscreen. Exits 0 only if every step worked. The report goes to
stdout when there is one (a windowed frozen app has none) and always to
`<data>/self-test.log`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

#: Qt calls that return nothing, made in the window step: PySide6 6.12.0 dropped a reference
#: to None on each and aborted the interpreter within 10,000 of them (a frozen build too).
QT_CALLS_CHECKED = 20_000
#: the shortcut check's step: photos of a second class, beside audit.findings.MIN_PHOTOS of the
#: first (what its parts and findings need): the other class's photos are what the first class's
#: parts are tested against, and 2 of them keep the step at half the time of two full classes
OTHER_CLASS_PHOTOS = 2
#: and made-up maps of each kind: 6 kinds of 12 (a few photos: dense eigenvalues, scikit-learn's
#: spectral clustering), then of 55 (more than the 300 that audit.groups solves densely: scipy's
#: sparse eigensolvers)
SHORTCUT_MAPS = (12, 55)


class Report:
    def __init__(self):
        self.lines: list[str] = []
        self.failed = False

    def step(self, name: str, action):
        start = time.perf_counter()
        try:
            detail = action()
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure
            self.failed = True
            self.say(f"FAIL {name}: {type(exc).__name__}: {exc}")
            self.lines.extend(traceback.format_exc().splitlines())
            return None
        self.say(f"ok   {name} ({time.perf_counter() - start:.2f} s){': ' + str(detail) if detail else ''}")
        return detail

    def say(self, line: str) -> None:
        self.lines.append(line)
        if sys.stdout is not None:
            print(line, flush=True)


def scratch_folder() -> Path:
    """A temporary folder for the self-test's files, removed when the program ends."""
    folder = Path(tempfile.mkdtemp(prefix="vit-gui-self-test-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def shortcut_counts() -> dict[str, int]:
    """Photos of each class folder the shortcut check's step makes."""
    from vit_gui.audit.findings import MIN_PHOTOS

    return {"chelsea": MIN_PHOTOS, "coffee": OTHER_CLASS_PHOTOS}


def shortcut_photos(folder: Path) -> Path:
    """Class folders (shortcut_counts) of crops and mirror images of two bundled photos (a cat,
    a cup of coffee), written as JPEG under `folder`."""
    import random

    from PIL import Image, ImageOps

    from vit_gui.resources import resource_path

    rng = random.Random(0)
    for name, count in shortcut_counts().items():
        (folder / name).mkdir(parents=True)
        with Image.open(resource_path("samples", f"{name}.jpg")) as opened:
            photo = opened.convert("RGB")
        for i in range(count):
            w, h = int(photo.width * rng.uniform(0.6, 0.9)), int(photo.height * rng.uniform(0.6, 0.9))
            x, y = rng.randint(0, photo.width - w), rng.randint(0, photo.height - h)
            crop = photo.crop((x, y, x + w, y + h))
            (ImageOps.mirror(crop) if i % 2 else crop).save(folder / name / f"{name}-{i}.jpg", quality=90)
    return folder


def made_up_maps(per_kind: int):
    """audit.groups.MAX_GROUPS kinds of unit-mass 16 x 16 maps, `per_kind` of each, taken in
    turn: a bump in one of that many places, a little jitter, so that each kind is a graph
    component of its own."""
    import numpy as np

    from vit_gui.audit.groups import MAX_GROUPS

    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:16, :16]
    places = [(3, 3), (3, 12), (12, 3), (12, 12), (7.5, 7.5), (3, 7.5)][:MAX_GROUPS]
    maps = []
    for i in range(per_kind * len(places)):
        row, col = np.array(places[i % len(places)]) + rng.normal(0, 0.3, 2)
        heat = np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / 4.5)
        maps.append(heat / heat.sum())
    return np.stack(maps)


def check_shortcuts(predictor) -> str:
    """The shortcut check on `predictor`: an audit of two class folders of made photos (maps,
    groups, parts by NMF, findings; the second class too small for parts), then groups of made-up maps of known kinds, which must come
    out as those kinds (nearest-neighbour graph, sparse eigensolver, spectral clustering). A copy
    that lacks scikit-learn or scipy fails here."""
    from vit_gui.audit.groups import MAX_GROUPS, group_maps
    from vit_gui.audit.run import audit

    counts = shortcut_counts()
    result = audit(shortcut_photos(scratch_folder() / "shortcuts"), predictor)
    read = {item.name: len(item.members) for item in result.classes}
    if read != counts:
        raise RuntimeError(f"the check read {read} photos, not {counts}")
    if any(not item.groups for item in result.classes) or not result.classes[0].parts:
        raise RuntimeError("the check found no groups in a class, or no parts in the first")
    for per_kind in SHORTCUT_MAPS:
        groups = group_maps(made_up_maps(per_kind))
        kinds = [list(range(k, per_kind * MAX_GROUPS, MAX_GROUPS)) for k in range(MAX_GROUPS)]
        if sorted(sorted(g.members) for g in groups) != kinds:
            raise RuntimeError(f"{MAX_GROUPS} kinds of {per_kind} made-up maps came out as groups of "
                               f"{[len(g.members) for g in groups]}")
    findings = sum(len(item.findings) for item in result.classes)
    parts = sum(len(item.parts) for item in result.classes)
    return (f"{sum(counts.values())} photos of {len(counts)} classes, {parts} parts, {findings} findings; "
            f"made-up maps of {MAX_GROUPS} kinds in {MAX_GROUPS} groups")


def run_self_test(model: Path | None = None) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from vit_gui import __version__
    from vit_gui.gui.app import prepare_environment
    from vit_gui.model.catalog import default_model_path
    from vit_gui.resources import resource_path, user_data_dir

    prepare_environment()
    report = Report()
    frozen = "frozen" if getattr(sys, "frozen", False) else "from source"
    report.say(f"vit-gui {__version__} self-test ({frozen}, Python {sys.version.split()[0]})")
    state: dict = {}

    def load():
        from vit_gui.predict import Predictor

        state["predictor"] = Predictor.from_file(model or default_model_path(), "cpu")
        info = state["predictor"].info
        classes = f"{info.architecture.num_classes} classes" if info.architecture.num_classes else "backbone"
        return f"{info.name} ({info.architecture.name}, {classes})"

    def classify():
        from vit_gui.images import load_image

        state["image"] = load_image(resource_path("samples", "chelsea.jpg")).image
        state["prediction"] = state["predictor"].predict([state["image"]], top_k=3, with_attentions=True)[0]
        if state["predictor"].info.architecture.is_backbone:
            return f"a backbone: no classes, {state['prediction'].features.shape[0]} features"
        return ", ".join(f"{t.label} {100 * t.prob:.1f}%" for t in state["prediction"].top)

    def openvino_engine():
        """What the app runs on a CPU (engine auto): OpenVINO converting the model and giving
        torch's numbers; in the frozen app this is the proof its libraries came along."""
        import numpy as np

        from vit_gui.model.engines import resolve_engine
        from vit_gui.predict import Predictor

        engine, why = resolve_engine("auto", state["predictor"].device)
        if engine != "openvino":
            return f"not used here: {why}"
        fast = Predictor.from_file(model or default_model_path(), "cpu", engine="openvino")
        ours = fast.predict([state["image"]], with_attentions=True)[0]
        theirs = state["prediction"]
        cosine = float(ours.features @ theirs.features / np.linalg.norm(ours.features) / np.linalg.norm(theirs.features))
        difference = float(np.abs(ours.map() - theirs.map()).max())
        if cosine < 0.9999 or difference > 1e-3:
            raise RuntimeError(f"OpenVINO disagrees with torch: features' cosine {cosine:.6f}, maps within {difference:.4f}")
        return f"float32 agrees with torch (features' cosine {cosine:.6f}, maps within {difference:.1e})"

    def rollout():
        grid_map = state["prediction"].map()
        if not (grid_map.min() == 0.0 and abs(grid_map.max() - 1.0) < 1e-6):
            raise ValueError(f"rollout not normalised to [0, 1]: {grid_map.min()}..{grid_map.max()}")
        state["map"] = grid_map
        return f"{grid_map.shape[0]}x{grid_map.shape[1]} patch grid"

    def overlay_png():
        from PIL import Image

        from vit_gui.explain.overlay import overlay
        from vit_gui.fileio import atomic_save_image

        path = scratch_folder() / "overlay.png"
        atomic_save_image(path, overlay(state["image"], state["map"], state["prediction"].geometry))
        with Image.open(path) as saved:
            if saved.size != state["image"].size:
                raise ValueError(f"overlay is {saved.size}, image is {state['image'].size}")
        return str(path)

    def window():
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from vit_gui.gui.app import set_icon
        from vit_gui.gui.main_window import MainWindow
        from vit_gui.gui.settings import Settings

        app = QApplication.instance() or QApplication(sys.argv[:1])
        set_icon(app)
        settings = QSettings(str(scratch_folder() / "settings.ini"), QSettings.Format.IniFormat)
        win = MainWindow(Settings(settings))
        win.show()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not win.isVisible():
            app.processEvents()
        for _ in range(QT_CALLS_CHECKED):  # PySide6 6.12.0 aborted the interpreter well before this
            app.processEvents()
        visible = win.isVisible()
        icon = not app.windowIcon().isNull() or not win.windowIcon().isNull()
        win.close()
        if not visible or not win.thread.isFinished():
            raise RuntimeError("the main window did not open and close cleanly")
        return f"opened and closed on the '{app.platformName()}' platform" + ("" if icon else " (no icon)")

    def help_page():
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QTextDocument
        from PySide6.QtWidgets import QApplication

        from vit_gui.gui.help import PAGE, HelpDialog

        QApplication.instance() or QApplication(sys.argv[:1])
        dialog = HelpDialog()
        names = [part.split('"', 1)[0] for part in PAGE.split('<img src="')[1:]]

        def found(name):
            picture = dialog.browser.document().resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
            return picture is not None and not picture.isNull()

        missing = [name for name in names if not found(name)]
        dialog.deleteLater()
        if missing:
            raise RuntimeError(f"the help page's pictures are missing: {', '.join(missing)}")
        return f"{len(names)} pictures found"

    for name, action in (("load model", load), ("classify a bundled photo", classify),
                         ("OpenVINO engine", openvino_engine), ("rollout", rollout),
                         ("write overlay PNG", overlay_png),
                         ("shortcut check", lambda: check_shortcuts(state["predictor"])),
                         ("main window", window), ("help page", help_page)):
        if report.failed and name not in ("main window", "help page"):
            report.say(f"skip {name}")
            continue
        report.step(name, action)
    report.say("SELF-TEST FAILED" if report.failed else "SELF-TEST PASSED")
    try:
        log = user_data_dir() / "self-test.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("\n".join(report.lines) + "\n", encoding="utf-8")
    except OSError:
        pass
    return 1 if report.failed else 0

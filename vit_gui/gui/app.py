"""Start the desktop app: environment first, then Qt, then the window (torch comes later,
on the worker thread, so the window is usable at once)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def prepare_environment() -> None:
    """A persistent matplotlib config folder: without it a frozen build rebuilds its font
    cache in a fresh temp folder on every launch."""
    from vit_gui.resources import user_data_dir

    folder = user_data_dir() / "matplotlib"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MPLCONFIGDIR", str(folder))
    except OSError:
        pass  # matplotlib falls back to a temp folder


def display_problem() -> str | None:
    """Why no window can open here, in words (Qt's own abort names a missing xcb library,
    which misleads on a machine that simply has no display)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run vit-gui on a "
            "desktop, or use the command line: vit-gui classify PHOTOS (see vit-gui --help)")


def set_icon(app) -> None:
    """The window and taskbar icon (resources/vit-gui.png, made by scripts/make_icon.py)."""
    from PySide6.QtGui import QIcon

    from vit_gui.resources import resource_path

    app.setWindowIcon(QIcon(str(resource_path("vit-gui.png"))))
    app.setDesktopFileName("vit-gui")  # Wayland matches the window to vit-gui.desktop by this


def run_app(argv: list[str] | None = None, open_paths: list[str] | None = None) -> int:
    problem = display_problem()
    if problem:
        if sys.stderr is not None:
            print(f"vit-gui: {problem}", file=sys.stderr)
        return 2
    prepare_environment()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from vit_gui.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("vit-gui")
    app.setOrganizationName("vit-gui")
    set_icon(app)
    window = MainWindow()
    window.show()
    if open_paths:  # after the window is up, as a drop would
        QTimer.singleShot(0, lambda: window.add_paths([str(Path(p).resolve()) for p in open_paths]))
    _report_for_benchmarks(app, window)
    return app.exec()


def _report_for_benchmarks(app, window) -> None:
    """VIT_GUI_REPORT_SHOWN / VIT_GUI_REPORT_READY name files that get the wall-clock time at
    which the window was up and painted / its model was loaded (ready to classify); the app
    quits once the last asked-for moment is written (benchmarks/startup.py)."""
    from PySide6.QtCore import QTimer

    shown, ready = os.environ.get("VIT_GUI_REPORT_SHOWN"), os.environ.get("VIT_GUI_REPORT_READY")
    if shown:
        QTimer.singleShot(0, lambda: (Path(shown).write_text(repr(time.time())), None if ready else app.quit()))
    if ready:
        poll = QTimer(window)

        def check() -> None:
            if window.model_info is not None or "No model is installed" in window.model_panel.status.text():
                poll.stop()
                Path(ready).write_text(repr(time.time()) if window.model_info is not None else "none")
                app.quit()

        poll.timeout.connect(check)
        poll.start(10)

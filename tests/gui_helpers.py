"""Driving the real window the way a user does: drops, clicks, waiting for results."""

from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def drop(widget, paths=(), urls=(), image=None):
    """Send QDragEnterEvent then QDropEvent, as a drag from a file manager or browser would
    (a browser sends an image's link and, often, the image data itself)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths] + [QUrl(u) for u in urls])
    if image is not None:
        mime.setImageData(image)
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPoint(50, 50), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refused the drag"
    event = QDropEvent(QPointF(50, 50), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted(), "the window refused the drop"


def wait_idle(qtbot, window, timeout=60_000):
    qtbot.waitUntil(lambda: not window.batches.is_busy(), timeout=timeout)


def wait_model(qtbot, window, timeout=60_000):
    qtbot.waitUntil(lambda: window.models.info is not None and window.models.loading is None, timeout=timeout)


def make_window(qtbot, settings_path, model=None):
    """The real main window with its own settings file; optionally with a model loaded."""
    from vit_gui.gui.main_window import MainWindow
    from vit_gui.gui.settings import Settings

    window = MainWindow(Settings(QSettings(str(settings_path), QSettings.Format.IniFormat)))
    qtbot.addWidget(window)
    window.show()
    if model is not None:
        window.models.add_file(str(model))
        wait_model(qtbot, window)
    return window


def wait_map(qtbot, view, timeout=30_000):
    """Maps are computed on the map thread: wait until the one the controls ask for is drawn."""
    qtbot.waitUntil(lambda: not view.computing and (view.current_map is not None or view.tile_count()),
                    timeout=timeout)


def taught_in_window(qtbot, model, folders, finetune=False, timeout=60_000):
    """A Teach window on `model`, taught from `folders` (finetune: the fine-tuning box
    ticked), once it is done or has said why not; the test reads its result."""
    from vit_gui.gui.teach_window import TeachWindow

    teach = TeachWindow(str(model))
    qtbot.addWidget(teach)
    teach.set_folders(list(folders))
    teach.finetune.setChecked(finetune)
    teach.start_teaching()
    qtbot.waitUntil(lambda: teach.result is not None or teach.status.text().startswith("not taught"), timeout=timeout)
    return teach


def open_check(qtbot, tmp_path, model, photo):
    """The main window with `photo` shown and "Can I trust this map?" just clicked:
    (window, map view, check window), the check under way."""
    window = make_window(qtbot, tmp_path / "s.ini", model)
    drop(window, paths=[photo])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    view.check.click()
    return window, view, window.checks.window


def answer_next_dialog(text=None):
    """When the next modal dialog opens, type `text` into it (an input dialog) and accept it;
    None: press Cancel. For dialogs a method opens with exec()."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QDialog, QInputDialog

    def answer():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QDialog):
            QTimer.singleShot(20, answer)
            return
        if text is None:
            dialog.reject()
            return
        if isinstance(dialog, QInputDialog):
            dialog.setTextValue(text)
        dialog.accept()

    QTimer.singleShot(0, answer)

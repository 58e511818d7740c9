"""The main window's menus and keys, and the Help menu's pages: a part of the main window by
composition. It is given the actions to offer as callables and builds the menu bar; the
window keeps no menu state of its own (the legend switch and the recent files menu live
here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMessageBox


@dataclass
class MenuActions:
    """What the menus and keys do: each a callable of the window or of one of its parts."""

    open_files: Callable
    open_folder: Callable
    paste: Callable
    save_png: Callable
    export_csv: Callable
    check_shortcuts: Callable
    clear: Callable
    quit: Callable
    get_models: Callable
    add_model: Callable
    teach: Callable
    compare: Callable
    cancel: Callable
    move: Callable[[int], None]  # to the next (1) or previous (-1) photo
    legend_changed: Callable


class WindowMenus(QObject):
    def __init__(self, window, actions: MenuActions):
        super().__init__(window)
        self.window = window
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open images…", actions.open_files, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &folder…", actions.open_folder, "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "&Paste image", actions.paste, QKeySequence.StandardKey.Paste)
        file_menu.addSeparator()
        self._action(file_menu, "&Save the map as PNG…", actions.save_png, "Ctrl+E")
        self.legend_action = self._action(file_menu, "Colour &legend on saved pictures", actions.legend_changed)
        self.legend_action.setCheckable(True)
        self.legend_action.setChecked(True)
        self._action(file_menu, "Export results as &CSV…", actions.export_csv, "Ctrl+Shift+E")
        file_menu.addSeparator()
        self._action(file_menu, "Check a folder for s&hortcuts…", actions.check_shortcuts)
        file_menu.addSeparator()
        self._action(file_menu, "C&lear results", actions.clear)
        self._action(file_menu, "&Quit", actions.quit, QKeySequence.StandardKey.Quit)
        model_menu = bar.addMenu("&Model")
        self._action(model_menu, "&Get models…", actions.get_models)
        self._action(model_menu, "&Add model file…", actions.add_model)
        model_menu.addSeparator()
        self._action(model_menu, "&Teach new classes…", actions.teach, "Ctrl+T")
        self._action(model_menu, "&Compare with another model…", actions.compare)
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&What am I looking at?", self.help_page, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "&About vit-gui", self.about)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), window, activated=actions.cancel)
        QShortcut(QKeySequence("D"), window, activated=lambda: actions.move(1))
        QShortcut(QKeySequence("A"), window, activated=lambda: actions.move(-1))

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    @Slot()
    def help_page(self) -> None:
        from vit_gui.gui.help import HelpDialog

        HelpDialog(self.window).show()

    @Slot()
    def about(self) -> None:
        from vit_gui import __version__

        QMessageBox.about(self.window, "About vit-gui", f"<b>vit-gui {__version__}</b><br>Classify images with a "
                          "Vision Transformer and see where it looked: attention rollout (Abnar &amp; Zuidema 2020), "
                          "per-block and per-head maps, and class evidence (Chefer et al. 2021).")

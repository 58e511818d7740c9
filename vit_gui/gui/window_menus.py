"""The main window's menus and keys, and the Help menu's pages. A part of MainWindow (mixed
in), kept apart by concern; every action calls a method of the window."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMessageBox


class MenusMixin:
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open images…", self.open_files_dialog, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "&Paste image", self.paste, QKeySequence.StandardKey.Paste)
        file_menu.addSeparator()
        self._action(file_menu, "&Save the map as PNG…", self.saving.png_dialog, "Ctrl+E")
        self.legend_action = self._action(file_menu, "Colour &legend on saved pictures", self._save_view_settings)
        self.legend_action.setCheckable(True)
        self.legend_action.setChecked(True)
        self._action(file_menu, "Export results as &CSV…", self.saving.csv_dialog, "Ctrl+Shift+E")
        file_menu.addSeparator()
        self._action(file_menu, "Check a folder for s&hortcuts…", lambda: self.shortcut_checks.choose_folder())
        file_menu.addSeparator()
        self._action(file_menu, "C&lear results", self.clear_results)
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        model_menu = self.menuBar().addMenu("&Model")
        self._action(model_menu, "&Get models…", self.get_models_dialog)
        self._action(model_menu, "&Add model file…", self.add_model_dialog)
        model_menu.addSeparator()
        self._action(model_menu, "&Teach new classes…", self.teach_dialog, "Ctrl+T")
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&What am I looking at?", self.help_page, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "&About vit-gui", self.about)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.cancel_batches)
        QShortcut(QKeySequence("D"), self, activated=lambda: self.results.move(1))
        QShortcut(QKeySequence("A"), self, activated=lambda: self.results.move(-1))

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    @Slot()
    def help_page(self) -> None:
        from vit_gui.gui.help import HelpDialog

        HelpDialog(self).show()

    @Slot()
    def about(self) -> None:
        from vit_gui import __version__

        QMessageBox.about(self, "About vit-gui", f"<b>vit-gui {__version__}</b><br>Classify images with a Vision "
                          "Transformer and see where it looked: attention rollout (Abnar &amp; Zuidema 2020), "
                          "per-block and per-head maps, and class evidence (Chefer et al. 2021).")


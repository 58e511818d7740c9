"""Text from files, models and servers is shown as text, never as markup.

Qt renders any string that looks like HTML as rich text (labels, tooltips, message boxes),
so a model's name, a class label, a file name or an HTTP reason could draw a fake "trusted"
badge, a link, or an <img> that loads a local file. Our own markup composes escaped
pieces; labels and boxes that show such text are switched to plain text.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox


def esc(text) -> str:
    """A piece of untrusted text, safe to put inside our own HTML."""
    return html.escape(str(text), quote=True)


def tooltip(text) -> str:
    """A tooltip that shows `text` literally (forced rich text, with the text escaped)."""
    return "<qt>" + esc(text).replace("\n", "<br>") + "</qt>"


def plain_label(text: str = "") -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def warn(parent, title: str, text: str) -> None:
    """A warning box whose text is shown as typed, markup and all."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.exec()

"""Pictures made without Qt (PIL images, PNG bytes from vit_gui.figures) as Qt pixmaps, and
the canvas that shows one scaled to fit."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy


def pil_to_qimage(image) -> QImage:
    image = image.convert("RGB")
    data = image.tobytes()
    return QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888).copy()


def pil_pixmap(image) -> QPixmap:
    return QPixmap.fromImage(pil_to_qimage(image))


def png_pixmap(data: bytes) -> QPixmap:
    pixmap = QPixmap()
    pixmap.loadFromData(data, "PNG")
    return pixmap


class ImageCanvas(QLabel):
    """Shows one picture scaled to fit, and says when it has nothing to show."""

    resized = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)  # messages name files and errors
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self.resized.emit()

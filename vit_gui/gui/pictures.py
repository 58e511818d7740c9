"""Pictures made without Qt (PIL images, PNG bytes from vit_gui.figures) as Qt pixmaps."""

from __future__ import annotations

from PySide6.QtGui import QImage, QPixmap


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

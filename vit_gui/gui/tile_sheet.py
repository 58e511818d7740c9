"""A zoomable picture of many small maps (`explain.sheet.Sheet`): fits the space by
default, Ctrl+wheel or the buttons zoom, a click on a map says which."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QToolButton, QVBoxLayout, QWidget

ZOOM_STEP = 1.25


class _SheetLabel(QLabel):
    clicked_at = Signal(float, float)

    def mousePressEvent(self, event):
        self.clicked_at.emit(event.position().x(), event.position().y())


class SheetView(QWidget):
    tile_clicked = Signal(int)
    export_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sheet = None
        self.pixmap = QPixmap()
        self.scale: float | None = None  # None: fit the space
        self.label = _SheetLabel()
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.label.setToolTip("click a map to see it large")
        self.label.clicked_at.connect(self._on_click)
        self.scroll = QScrollArea()
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scroll.setWidget(self.label)
        bar = QHBoxLayout()
        for text, tip, slot in (("−", "smaller (Ctrl+wheel)", lambda: self.zoom(1 / ZOOM_STEP)),
                                ("Fit", "fit the window", self.fit),
                                ("+", "larger (Ctrl+wheel)", lambda: self.zoom(ZOOM_STEP)),
                                ("Save as PNG…", "save all these maps as one picture, with the colour legend",
                                 self.export_requested.emit)):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            bar.addWidget(button)
        bar.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.scroll, 1)

    def viewport_size(self) -> tuple[int, int]:
        size = self.scroll.viewport().size()
        return max(64, size.width()), max(64, size.height())

    def set_sheet(self, sheet, pixmap: QPixmap) -> None:
        self.sheet, self.pixmap = sheet, pixmap
        self._show()

    def fit(self) -> None:
        self.scale = None
        self._show()

    def zoom(self, factor: float) -> None:
        self.scale = min(8.0, max(0.1, self.current_scale() * factor))
        self._show()

    def current_scale(self) -> float:
        if self.scale is not None or self.pixmap.isNull():
            return self.scale or 1.0
        width, height = self.viewport_size()
        return min(width / self.pixmap.width(), height / self.pixmap.height())

    def _show(self) -> None:
        if self.pixmap.isNull():
            return
        scale = self.current_scale()
        shown = self.pixmap.scaled(max(1, round(self.pixmap.width() * scale)),
                                   max(1, round(self.pixmap.height() * scale)),
                                   Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self.label.setPixmap(shown)
        self.label.resize(shown.size())

    def _on_click(self, x: float, y: float) -> None:
        if self.sheet is None:
            return
        shown = self.label.pixmap()
        left = (self.label.width() - shown.width()) / 2
        top = (self.label.height() - shown.height()) / 2
        scale = shown.width() / self.pixmap.width()
        index = self.sheet.cell_at((x - left) / scale, (y - top) / scale)
        if index is not None:
            self.tile_clicked.emit(index)

    def wheelEvent(self, event):
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)
            event.accept()
        else:
            super().wheelEvent(event)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self.scale is None:
            self._show()

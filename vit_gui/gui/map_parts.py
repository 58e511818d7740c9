"""Widgets of the map view that own their behaviour: the canvas that zooms and pans the
state it draws, and the colour bar with the words at its ends."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from vit_gui.gui.pictures import ImageCanvas
from vit_gui.gui.plain import plain_label
from vit_gui.map_state import MapState

ZOOM_STEP = 1.25


class ZoomCanvas(ImageCanvas):
    """The photo and its map. Ctrl+wheel zooms around the pointer, a drag pans once zoomed,
    a double click fits the whole photo again: all as changes of the state (so a linked
    view zooms with it)."""

    zoom_changed = Signal()

    def __init__(self, state: MapState, parent=None):
        super().__init__(parent)
        self.state = state
        self._dragged_from: QPointF | None = None
        self.setToolTip("Ctrl+wheel zooms, drag to move a zoomed photo, double-click to see all of it")

    def _share_in_picture(self, point: QPointF) -> tuple[float, float] | None:
        """Where `point` falls in the picture shown, as shares of its width and height."""
        pixmap = self.pixmap()
        if pixmap is None or pixmap.isNull():
            return None
        left, top = (self.width() - pixmap.width()) / 2, (self.height() - pixmap.height()) / 2
        return ((point.x() - left) / pixmap.width(), (point.y() - top) / pixmap.height())

    def wheelEvent(self, event):
        if not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return super().wheelEvent(event)
        at = self._share_in_picture(event.position()) or (0.5, 0.5)
        at = tuple(min(1.0, max(0.0, a)) for a in at)
        self.state.zoom_at(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP, at)
        event.accept()

    def mousePressEvent(self, event):
        self._dragged_from = event.position() if self.state.settings.zoom > 1 else None

    def mouseMoveEvent(self, event):
        pixmap = self.pixmap()
        if self._dragged_from is None or pixmap is None or pixmap.isNull():
            return
        moved = event.position() - self._dragged_from
        self._dragged_from = event.position()
        self.state.pan(moved.x() / pixmap.width(), moved.y() / pixmap.height())

    def mouseReleaseEvent(self, event):
        self._dragged_from = None

    def mouseDoubleClickEvent(self, event):
        self.state.change(zoom=1.0, centre=(0.5, 0.5))


class MapLegend(QWidget):
    """The chosen colormap from least to most, between the words for its two ends."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.low, self.high = plain_label("less attention"), plain_label("more")
        self.compact = False  # "less" and "more" alone, where the caption above names the class (narrow views)
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the picture above does not jump when the bar comes
        self.setSizePolicy(policy)
        self.bar = QLabel()
        self.bar.setScaledContents(True)  # a ramp may shrink: two views side by side must fit a laptop
        self.bar.setMinimumWidth(60)
        self.bar.setMaximumSize(200, 12)
        self.bar.setToolTip("the map's colours, from the least to the most attention in this photo "
                            "(each map is scaled to its own strongest patch)")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch()
        for widget in (self.low, self.bar, self.high):
            row.addWidget(widget)
        row.addStretch()
        self._shown_for = None

    def show_for(self, colormap: str, words: tuple[str, str]) -> None:
        """Drawn with the first map (matplotlib is not imported before the window is up)."""
        from vit_gui.explain.overlay import colorize

        if self._shown_for != colormap:
            ramp = colorize(np.tile(np.linspace(0.0, 1.0, 200), (12, 1)), colormap)
            self.bar.setPixmap(QPixmap.fromImage(QImage(np.ascontiguousarray(ramp).data, 200, 12, 600,
                                                        QImage.Format.Format_RGB888).copy()))
            self._shown_for = colormap
        self.low.setText("less" if self.compact else words[0])
        self.high.setText("more" if self.compact else words[1])
        if self.isHidden():
            self.setVisible(True)

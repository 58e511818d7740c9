"""Windows that fit the screen they open on: a laptop's 1280x800 or 1366x768 (minus its
task bar) as much as a large monitor. Every window and dialog sizes itself through here."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

MARGIN = 0.96  # of the available area: room for the window's frame


def fit_to_screen(widget, width: int, height: int) -> None:
    """Resize `widget` to width x height, or less where the screen's free area is smaller,
    and centre it there."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        widget.resize(width, height)
        return
    area = screen.availableGeometry()
    fitted_w, fitted_h = min(width, int(area.width() * MARGIN)), min(height, int(area.height() * MARGIN))
    widget.resize(fitted_w, fitted_h)
    widget.move(area.x() + (area.width() - fitted_w) // 2, area.y() + (area.height() - fitted_h) // 2)

"""Windows that fit the screen they open on: a laptop's 1280x800 or 1366x768 (minus its
task bar) as much as a large monitor. Every window and dialog sizes itself through here,
and a side panel of controls scrolls rather than pushing a window past a small screen.

`resize` sets the inside of a window; the window manager then adds its title bar and
borders. The allowance below keeps the whole frame on the screen: sized to 96% of the free
height alone, the main window's bottom edge sat ~9 px below a 768-pixel screen under a
window manager with a title bar."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QScrollArea

MARGIN = 0.96  # of the available area: room around the window
#: pixels a window manager adds around a window's inside: a title bar (~20-32 px) and borders
FRAME_WIDTH, FRAME_HEIGHT = 8, 36
SETTLE_MS = 3000  # after showing, the window manager's framing is corrected this long


def scrolling_panel(panel) -> QScrollArea:
    """`panel` (a column of controls) in a frameless area that scrolls down on a small screen
    rather than squeezing its controls, never sideways, as wide as the panel wants."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(panel.sizeHint().width() + 12)
    area.setWidget(panel)
    return area


def fitted_size(width: int, height: int, free_width: int, free_height: int) -> tuple[int, int]:
    """The inside size for a window that asks for width x height on a screen whose free area
    is free_width x free_height, frame included."""
    return (min(width, int(free_width * MARGIN) - FRAME_WIDTH), min(height, int(free_height * MARGIN) - FRAME_HEIGHT))


def fit_to_screen(widget, width: int, height: int) -> None:
    """Resize `widget` to width x height, or less where the screen's free area is smaller,
    and centre it (frame included) there."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        widget.resize(width, height)
        return
    area = screen.availableGeometry()
    fitted_w, fitted_h = fitted_size(width, height, area.width(), area.height())
    widget.resize(fitted_w, fitted_h)
    widget.move(area.x() + (area.width() - fitted_w - FRAME_WIDTH) // 2,
                area.y() + (area.height() - fitted_h - FRAME_HEIGHT) // 2)
    if widget.findChild(_Settler) is None:  # sized again later (a restored window): one is enough
        widget.installEventFilter(_Settler(widget))


class _Settler(QObject):
    """For a few seconds after the window is shown, the frame is checked a few times a second
    and the window moved so the frame lies inside the free area. Some window managers keep
    the inside where asked and add the title bar above it, off the top of the screen, a
    second after showing a heavy window, without a move event; the user's own moves later
    are left alone."""

    def __init__(self, parent):
        super().__init__(parent)
        self.armed = True  # the first showing only

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Show and self.armed:
            self.armed = False
            for delay in range(0, SETTLE_MS, SETTLE_MS // 10):
                QTimer.singleShot(delay, watched, lambda: settle_on_screen(watched))
        return False


def settle_on_screen(widget) -> None:
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None or not widget.isVisible():
        return
    area, frame = screen.availableGeometry(), widget.frameGeometry()
    dx = max(area.left() - frame.left(), min(0, area.right() - frame.right()))
    dy = max(area.top() - frame.top(), min(0, area.bottom() - frame.bottom()))
    if dx or dy:
        widget.move(widget.pos().x() + dx, widget.pos().y() + dy)

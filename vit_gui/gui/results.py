"""The results list: one entry per image with its thumbnail and top-k classes, or its
error in place. Selecting an entry shows it; clicking a class shows that class's map."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem

from vit_gui.gui.plain import tooltip as as_tooltip

KEY_ROLE = Qt.ItemDataRole.UserRole
CLASS_ROLE = Qt.ItemDataRole.UserRole + 1
PLAIN_TIP_ROLE = Qt.ItemDataRole.UserRole + 2  # the item's own tooltip text, unescaped
ERROR_COLOR = QColor("#c0392b")
#: rows wrap while the list is at most this long; past it, names are elided in the middle (the
#: full name is in the tooltip): wrapping makes the view measure every row on each change,
#: 0.45 s for 10,000 rows
WRAP_LIMIT = 1000
EMPTY_HINT = ("Your photos appear here, each with the classes the model sees in it.\n\n"
              "Click a photo to see its map; click a class to see the evidence for it.")


class ResultsList(QTreeWidget):
    item_selected = Signal(int)  # key
    class_clicked = Signal(int, int)  # key, class index

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setIconSize(QSize(64, 64))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformRowHeights(False)
        self.setAnimated(False)
        self.setMinimumWidth(260)
        # rows wrap to the list's width instead of being cut off when a scroll bar takes room
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.header().setStretchLastSection(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self._items: dict[int, QTreeWidgetItem] = {}
        self.currentItemChanged.connect(self._on_current_changed)
        self.itemClicked.connect(self._on_clicked)
        self.itemActivated.connect(self._on_clicked)  # Enter on a class row, for keyboard users

    def paintEvent(self, event):
        """An empty list says what it is for (a first-time user sees a blank column otherwise)."""
        super().paintEvent(event)
        if self.topLevelItemCount() == 0:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.viewport().rect().adjusted(16, 16, -16, -16),
                             Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                             EMPTY_HINT)
            painter.end()

    # ---- filling --------------------------------------------------------------------------
    def add_pending(self, key: int, name: str, tooltip: str = "") -> None:
        self.add_pending_many([(key, name, tooltip)])

    def add_pending_many(self, entries: list[tuple[int, str, str]]) -> None:
        """Waiting entries for (key, name, tooltip): inserted in one call, since the view lays
        itself out once per insertion (10,000 single inserts held the window ~0.5 s)."""
        items = []
        for key, name, tooltip in entries:
            item = QTreeWidgetItem([f"{name}\nwaiting…"])
            item.setData(0, KEY_ROLE, key)
            item.setToolTip(0, as_tooltip(tooltip or name))
            item.setData(0, PLAIN_TIP_ROLE, tooltip or name)
            self._items[key] = item
            items.append(item)
        if self.topLevelItemCount() + len(items) > WRAP_LIMIT:
            self.setWordWrap(False)
        self.addTopLevelItems(items)

    def mark_waiting(self, key: int) -> None:
        item = self._items.get(key)
        if item is not None:
            item.setText(0, f"{self._name(item)}\nwaiting…")
            item.setForeground(0, QBrush())
            item.takeChildren()

    def set_result(self, key: int, result) -> None:
        item = self._items.get(key)
        if item is None:
            return
        name = self._name(item)
        item.takeChildren()
        if result.thumbnail_png:
            pixmap = QPixmap()
            pixmap.loadFromData(result.thumbnail_png, "PNG")
            item.setIcon(0, QIcon(pixmap))
        if result.error:
            item.setText(0, f"{name}\n⚠ {result.error}")
            item.setForeground(0, QBrush(ERROR_COLOR))
            item.setToolTip(0, as_tooltip(f"{item.data(0, PLAIN_TIP_ROLE)}\n{result.error}"))
            return
        item.setForeground(0, QBrush())
        note = f"\nℹ {'; '.join(result.notes)}" if result.notes else ""
        if not result.top:  # a backbone: maps, no classes
            item.setText(0, f"{name}\nno classes yet: see where it looks{note}")
            item.setToolTip(0, as_tooltip(f"{item.data(0, PLAIN_TIP_ROLE)}\nThis model is a backbone without "
                                          "classes yet: it shows where it looks, not what it sees."))
            return
        best = result.top[0]
        item.setText(0, f"{name}\n{best.short} — {100 * best.prob:.1f}%{note}")
        item.setToolTip(0, as_tooltip(f"{item.data(0, PLAIN_TIP_ROLE)}\nmost likely: {best.label} "
                                      f"({100 * best.prob:.1f}%)"))
        for rank, top in enumerate(result.top, 1):
            also = f"  ({top.synonyms})" if top.synonyms else ""
            child = QTreeWidgetItem([f"{rank}. {top.short} — {100 * top.prob:.1f}%{also}"])
            child.setData(0, KEY_ROLE, key)
            child.setData(0, CLASS_ROLE, top.index)
            child.setToolTip(0, as_tooltip(f"{top.label}\n{100 * top.prob:.1f}% · class {top.index}\n"
                                           "click to see which parts of the photo are evidence for it"))
            item.addChild(child)
        item.setExpanded(item.isSelected() or self.topLevelItemCount() <= 3)

    def clear_results(self) -> None:
        self.clear()
        self._items.clear()
        self.setWordWrap(True)

    # ---- queries and navigation -----------------------------------------------------------
    @staticmethod
    def _name(item: QTreeWidgetItem) -> str:
        return item.text(0).split("\n", 1)[0]

    def keys(self) -> list[int]:
        return [self.topLevelItem(i).data(0, KEY_ROLE) for i in range(self.topLevelItemCount())]

    def item_text(self, key: int) -> str:
        return self._items[key].text(0)

    def class_rows(self, key: int) -> list[tuple[str, int]]:
        item = self._items[key]
        return [(item.child(i).text(0), item.child(i).data(0, CLASS_ROLE)) for i in range(item.childCount())]

    def select_key(self, key: int) -> None:
        item = self._items.get(key)
        if item is not None:
            self.setCurrentItem(item)

    def current_key(self) -> int | None:
        item = self.currentItem()
        return None if item is None else item.data(0, KEY_ROLE)

    def move(self, step: int) -> None:
        """Select the next (step=1) or previous (step=-1) image."""
        if not self.topLevelItemCount():
            return
        current = self.currentItem()
        top = current.parent() or current if current else None
        index = self.indexOfTopLevelItem(top) if top else -1
        index = min(max(index + step, 0), self.topLevelItemCount() - 1)
        self.setCurrentItem(self.topLevelItem(index))

    def click_class(self, key: int, class_index: int) -> None:
        """Programmatic equivalent of clicking a class row (used by tests and shortcuts)."""
        item = self._items[key]
        for i in range(item.childCount()):
            if item.child(i).data(0, CLASS_ROLE) == class_index:
                self.setCurrentItem(item.child(i))
                self._on_clicked(item.child(i), 0)
                return

    # ---- signals out ----------------------------------------------------------------------
    @Slot(QTreeWidgetItem, QTreeWidgetItem)
    def _on_current_changed(self, current, previous) -> None:
        if current is None:
            return
        top = current.parent() or current
        if previous is None or (previous.parent() or previous) is not top:
            self.item_selected.emit(top.data(0, KEY_ROLE))

    @Slot(QTreeWidgetItem, int)
    def _on_clicked(self, item, column) -> None:
        class_index = item.data(0, CLASS_ROLE)
        if class_index is not None:
            self.class_clicked.emit(item.data(0, KEY_ROLE), class_index)

"""One class of a shortcut check, as pictures first and words second: what stands out (the
photos concerned, the spot boxed), the groups its photos fall into by their maps (each
group's mean map over its most typical photo), and the parts the model looked at (their
best crops). Each widget owns its behaviour: asking to show photos in the main list is a
signal, the window decides what that does."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from vit_gui.audit.pictures import KIND_TITLES
from vit_gui.gui.pictures import pil_pixmap
from vit_gui.gui.plain import plain_label, tooltip

ICON = 112  # pixels: a thumbnail's longer side
PATH_ROLE = Qt.ItemDataRole.UserRole  # an item's photos (list of paths)
NAME_CHARS = 60  # a class name in a title, at most

NOTHING = ("Nothing stood out that this check measures (evidence on the same spot, on one small spot, outside the "
           "object, or on a part no other class has).")


def shortened(name: str, most: int = NAME_CHARS) -> str:
    """A class name short enough for a title (the whole name in its tooltip): a name of 400
    letters without a space made the window wider than the screen."""
    return name if len(name) <= most else name[:most - 1] + "…"


class PictureStrip(QListWidget):
    """One row of pictures that scrolls sideways; double-clicking one asks to show its photos."""

    show_photos = Signal(list)

    def __init__(self, icon: QSize = QSize(ICON, ICON), captions: bool = False):
        super().__init__()
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListWidget.Movement.Static)
        self.setIconSize(icon)
        self.setSpacing(4)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        text = self.fontMetrics().height() + 4 if captions else 0
        self.setFixedHeight(icon.height() + text + 2 * self.spacing() + self.horizontalScrollBar().sizeHint().height()
                            + 2 * self.frameWidth() + 4)
        self.itemActivated.connect(self._activated)  # a double-click, or Enter on the keyboard

    def _activated(self, item) -> None:
        self.show_photos.emit(item.data(PATH_ROLE))

    def add(self, picture: Image.Image, photos: list[str], caption: str = "", tip: str = "") -> None:
        item = QListWidgetItem(QIcon(pil_pixmap(picture)), caption)
        item.setData(PATH_ROLE, list(photos))
        item.setToolTip(tooltip(tip or "\n".join(photos[:1])) + "<br><i>double-click: show in the main list</i>")
        self.addItem(item)


def strip_of(crops: list[Image.Image], gap: int = 2) -> Image.Image:
    """Crops side by side, one picture."""
    if not crops:
        return Image.new("RGB", (1, 1), (255, 255, 255))
    height = max(c.height for c in crops)
    strip = Image.new("RGB", (sum(c.width for c in crops) + gap * (len(crops) - 1), height), (255, 255, 255))
    x = 0
    for crop in crops:
        strip.paste(crop, (x, 0))
        x += crop.width + gap
    return strip


class FindingCard(QFrame):
    """A finding: its photos with the spot boxed, then its words, then a button to list them."""

    show_photos = Signal(list)

    def __init__(self, finding):
        super().__init__()
        self.finding = finding
        self.setObjectName("finding")
        self.setStyleSheet("QFrame#finding { background: #fff4d6; border: 1px solid #e0c070; border-radius: 4px; }")
        layout = QVBoxLayout(self)
        title = plain_label(KIND_TITLES.get(finding.kind, finding.kind))
        title.setStyleSheet("font-weight: bold")
        layout.addWidget(title)
        self.strip = PictureStrip()
        for path, thumb in finding.thumbs:
            self.strip.add(thumb, [path], tip=path)
        self.strip.show_photos.connect(self.show_photos)
        layout.addWidget(self.strip)
        words = plain_label(finding.words[:1].upper() + finding.words[1:] + ".")
        words.setWordWrap(True)
        layout.addWidget(words)
        count = len(finding.photos)
        self.show_button = QPushButton(f"Show {'this photo' if count == 1 else f'these {count} photos'} in the "
                                       "main list")
        self.show_button.clicked.connect(lambda: self.show_photos.emit(list(self.finding.photos)))
        row = QHBoxLayout()
        row.addWidget(self.show_button)
        row.addStretch()
        layout.addLayout(row)


class ClassSection(QGroupBox):
    """Everything the check found about one class."""

    show_photos = Signal(list)

    def __init__(self, pictures):
        super().__init__(f"{shortened(pictures.name)} — {pictures.count} photo{'s' if pictures.count != 1 else ''}")
        self.setToolTip(tooltip(pictures.name))
        self.pictures = pictures
        layout = QVBoxLayout(self)
        shortcuts = [f for f in pictures.findings if f.kind != "too_few"]
        self.cards = [FindingCard(f) for f in shortcuts]
        for card in self.cards:
            card.show_photos.connect(self.show_photos)
            layout.addWidget(card)
        for finding in pictures.findings:
            if finding.kind == "too_few":
                note = plain_label(finding.words[:1].upper() + finding.words[1:] + ".")
                note.setWordWrap(True)
                note.setStyleSheet("color: #8a5a00")
                layout.addWidget(note)
        if not pictures.findings:
            nothing = plain_label(NOTHING)
            nothing.setWordWrap(True)
            layout.addWidget(nothing)
        self.groups = PictureStrip(captions=True)
        for number, group in enumerate(pictures.groups, 1):
            self.groups.add(group.picture, group.photos, f"group {number}: {group.size} photo"
                            f"{'s' if group.size != 1 else ''}",
                            f"group {number}: its mean map over its most typical photo, {group.typical}")
        self.groups.show_photos.connect(self.show_photos)
        count = len(pictures.groups)
        layout.addWidget(self._heading(
            f"How it decided: its photos fall into {count} group{'s' if count != 1 else ''} by their maps "
            "(each group's mean map over its most typical photo; double-click a group to list its photos)"))
        layout.addWidget(self.groups)
        self.parts = PictureStrip(QSize(ICON * 4, ICON * 2 // 3), captions=True)
        for number, part in enumerate(pictures.parts, 1):
            elsewhere = "" if part.other_classes is None else \
                f", in {part.other_classes:.0%} of other classes' photos tested"
            self.parts.add(strip_of([crop for _, crop in part.crops]), [p for p, _ in part.crops],
                           f"part {number}: {part.share:.0%} of the evidence",
                           f"part {number}: {part.share:.0%} of the evidence; present in {part.present:.0%} of the "
                           f"photos examined{elsewhere}. Its best-matching crops.")
        self.parts.show_photos.connect(self.show_photos)
        if pictures.parts:
            layout.addWidget(self._heading("What it looked at: parts of its photos, by their share of the evidence "
                                           "(each part's best-matching crops)"))
            layout.addWidget(self.parts)

    @staticmethod
    def _heading(text: str):
        label = plain_label(text)
        label.setWordWrap(True)
        label.setStyleSheet("color: #444")
        return label


class MoreClasses(QGroupBox):
    """The classes not drawn as pictures (the window draws the first few), one line each in
    words; double-clicking one asks to show its photos."""

    show_photos = Signal(list)

    def __init__(self, classes: list[dict]):
        super().__init__(f"{len(classes)} more class{'es' if len(classes) != 1 else ''}, in words "
                         "(the ones above had findings or the most photos)")
        self.list = QListWidget()
        for item in classes:
            words = "; ".join(f["words"] for f in item["findings"]) or "nothing stood out"
            row = QListWidgetItem(f"{shortened(item['name'])} — {len(item['photos'])} photos: {words}")
            row.setData(PATH_ROLE, list(item["photos"]))
            row.setToolTip(tooltip(words) + "<br><i>double-click: show its photos in the main list</i>")
            self.list.addItem(row)
        self.list.itemActivated.connect(self._activated)
        self.list.setMaximumHeight(320)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)

    def _activated(self, row) -> None:
        self.show_photos.emit(row.data(PATH_ROLE))

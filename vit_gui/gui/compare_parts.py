"""The side-by-side window's parts that own their behaviour: the top line's words, one model's
column (its name, its classes as buttons, its map), and the photo list, disagreements first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from vit_gui.gui.map_view import MapView
from vit_gui.gui.plain import plain_label
from vit_gui.map_state import MapState

MAP_WORDS = {"rollout": "rollout maps", "class": "evidence maps (each model's for its own top class)"}
SAME_LOOK = 0.995  # maps this alike on average: the two models look at photos the same way


def agreement_words(summary: dict, kind: str = "rollout") -> tuple[str, str]:
    """The folder's top line in plain words, and its detail (intervals, n, what the measure
    is) for the tooltip: top-1 agreement and mean map agreement."""
    plain, detail = [], []
    if summary["top1_compared"]:
        low, high = summary["top1_agreement_interval"]
        same, n = summary["top1_compared"] - summary["top1_disagreements"], summary["top1_compared"]
        plain.append(f"Same top class on {same} of {n} photos (95% interval {low:.0%}–{high:.0%})")
        detail.append(f"Top class: the same on {same} of {n} photos ({summary['top1_agreement']:.0%}), "
                      f"Wilson 95% interval {low:.0%}–{high:.0%}; each photo counts once.")
    else:
        plain.append("No top classes to compare (a model without classes)")
    if summary["maps_compared"]:
        low, high = summary["map_agreement_interval"]
        mean = summary["map_agreement_mean"]
        plain.append(f"their {MAP_WORDS[kind].split(' (')[0]} agree {mean:.2f} on average (1 = same places, "
                     f"0 = unrelated; 95% interval {low:.2f}–{high:.2f})")
        detail.append(f"Maps: {MAP_WORDS[kind]}, compared on the photo by rank correlation (Spearman), averaged "
                      f"over {summary['maps_compared']} photos, bootstrap 95% interval {low:+.3f} to {high:+.3f}.")
        if mean >= SAME_LOOK:
            plain.append("the two models look at the photos the same way (a model taught on top of the other "
                         "keeps its attention)")
    if summary["failed"]:
        plain.append(f"{summary['failed']} could not be read")
    return " · ".join(plain), "\n".join(detail)


class ModelSide(QWidget):
    """One model's column: its name, its top classes (a click shows that class's evidence on
    both sides), and its map."""

    class_clicked = Signal(str)  # a class name

    def __init__(self, letter: str, state: MapState, parent=None):
        super().__init__(parent)
        self.letter = letter
        self.title = plain_label(f"{letter.upper()}: loading…")
        self.title.setStyleSheet("font-weight: bold")
        self.classes = plain_label("")
        self.buttons: list[QPushButton] = []
        self.class_row = QHBoxLayout()
        self.class_row.setContentsMargins(0, 0, 0, 0)
        self.class_row.addWidget(self.classes)
        self.class_row.addStretch()
        self.view = MapView(state, checkable=False)
        self.view.reading.setVisible(False)  # its words point at the main window's results list
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self.class_row)
        layout.addWidget(self.view, 1)

    def show_prediction(self, photo, prediction) -> None:
        for button in self.buttons:
            button.deleteLater()
        self.buttons = []
        top = (prediction.top or [])[:3]
        self.classes.setText("" if top else "no classes (a backbone): its attention only")
        for index, t in enumerate(top):
            button = QPushButton(f"{t.label} {t.prob:.0%}")
            button.setFlat(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setToolTip(f"show both models' evidence for “{t.label}”")
            button.clicked.connect(lambda _=False, label=t.label: self.class_clicked.emit(label))
            self.class_row.insertWidget(1 + index, button)
            self.buttons.append(button)
        self.view.show_item(photo, prediction)

    def pick_by_name(self, label: str, info) -> bool:
        """Show this model's evidence for the class named `label`; False where it has none."""
        from vit_gui.explain.agreement import same_class_name

        for index, name in enumerate(info.labels):
            if same_class_name(name, label):
                self.view.request_class(index, name)
                return True
        return False


class PhotoList(QTreeWidget):
    """The photos compared, where the two models disagree first: a different top class (in
    red), then the maps that differ most."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Photo", "Maps agree", "A says", "B says"])
        self.headerItem().setToolTip(1, "how alike the two maps are on the photo: 1 = the same places, "
                                        "0 = unrelated, below 0 = opposite (rank correlation)")
        self.setRootIsDecorated(False)
        self.setToolTip("photos where the two models disagree come first: a different top class (in red), "
                        "then the maps that differ most")
        self.setMinimumWidth(220)

    def show_rows(self, rows: list, shown_path: str | None) -> None:
        """The rows, disagreements first; the photo shown stays chosen (no signal sent)."""
        self.blockSignals(True)
        self.clear()
        for row in sorted(rows, key=lambda r: r.disagreement()):
            maps = "" if row.maps is None else f"{row.maps:.2f}"
            item = QTreeWidgetItem([Path(row.path).name, maps, row.top_a or "–", row.top_b or "–"])
            item.setData(0, Qt.ItemDataRole.UserRole, row.path)
            item.setToolTip(0, row.error or row.path)
            if row.top_agree is False:
                for column in (2, 3):
                    item.setForeground(column, Qt.GlobalColor.darkRed)
            self.addTopLevelItem(item)
            if row.path == shown_path:
                self.setCurrentItem(item)
        self.blockSignals(False)
        for column in range(4):
            self.resizeColumnToContents(column)
        self.setColumnWidth(0, min(self.columnWidth(0), 110))  # long names elide; the full path on hover

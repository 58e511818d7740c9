"""The Teach window's report, a widget that owns its parts: the summary in words, the plot of
the settings tried, the confusion matrix, the per-class table and the photos kept aside it
was least sure of (with what it looked at), each caption wrapped under its photo."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vit_gui.gui.pictures import pil_pixmap, png_pixmap
from vit_gui.gui.plain import plain_label


class TeachReport(QWidget):
    def __init__(self):
        super().__init__()
        self.plot = QLabel()
        self.plot.setMinimumSize(340, 240)
        self.summary = plain_label("")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["class", "right when it says so", "found of this class"])
        for column, tip in ((1, "precision: of the photos it called this class, the share that really are"),
                            (2, "recall: of the photos of this class, the share it recognised")):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMaximumHeight(260)  # 2,000 classes scroll inside it
        self.confusion = QLabel()
        self.hardest = QWidget()
        self.hardest_layout = QGridLayout(self.hardest)
        self.hardest_title = plain_label("")
        right_layout = QVBoxLayout(self)  # one column: the summary, the two pictures side by side, the table, the photos
        right_layout.addWidget(self.summary)
        pictures = QHBoxLayout()
        pictures.addWidget(self.plot)
        pictures.addWidget(self.confusion)
        pictures.addStretch()
        right_layout.addLayout(pictures)
        right_layout.addWidget(self.table)
        right_layout.addWidget(self.hardest_title)
        right_layout.addWidget(self.hardest)
        right_layout.addStretch()

    def show_result(self, result) -> None:
        """The report of a finished teaching (teach_worker.TeachResult)."""
        taught = result.taught
        report, classes = taught.report, taught.dataset.classes
        accuracy = report.accuracy
        if accuracy == accuracy:
            lines = [f"On {taught.facts['val_images']} photos kept aside, the new classifier is right "
                     f"{accuracy:.0%} of the time ({taught.facts['train_images']} photos taught)."]
        else:  # a note says why, when there is one
            lines = [] if taught.notes else ["No photos were kept aside to check it."]
        # the notes are what the CLI says too: repeats left out of checking, why nothing was kept aside
        self.summary.setText("\n".join(lines + [f"{note[:1].upper()}{note[1:]}." for note in taught.notes]))
        self.summary.setToolTip(f"validation accuracy {accuracy:.3f}; weight decay chosen "
                                f"{taught.probe.weight_decay:g}; mode {taught.facts['mode']}")
        mixed = report.most_confused(5)
        if mixed:
            self.summary.setText(self.summary.text() + "\nMost often mixed up: " + "; ".join(
                f"{true} seen as {seen} ({count} photo{'s' if count > 1 else ''})" for true, seen, count in mixed) + ".")
        self.table.setUpdatesEnabled(False)  # one repaint for 2,000 rows, not one per cell
        self.table.setRowCount(len(classes))
        for row, (name, precision, recall) in enumerate(zip(classes, report.precision, report.recall)):
            for column, text in enumerate((name, _percent(precision), _percent(recall))):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.setUpdatesEnabled(True)
        self.confusion.setPixmap(png_pixmap(result.confusion_png))
        self.hardest_title.setText("The photos kept aside it was least sure of, and what it looked at for its answer:")
        while self.hardest_layout.count():
            self.hardest_layout.takeAt(0).widget().deleteLater()
        for i, (picture, caption) in enumerate(result.maps):
            cell = QWidget()
            cell_layout = QVBoxLayout(cell)
            image = QLabel()
            image.setPixmap(pil_pixmap(picture).scaledToHeight(110))
            text = plain_label(caption)
            text.setWordWrap(True)  # within the photo's width, as many lines as it needs: never cut
            text.setFixedWidth(max(image.pixmap().width(), 150))
            text.setMinimumHeight(text.heightForWidth(text.width()))
            cell_layout.addWidget(image)
            cell_layout.addWidget(text)
            self.hardest_layout.addWidget(cell, i // 3, i % 3)


def _percent(value: float) -> str:
    return "—" if value != value else f"{value:.0%}"

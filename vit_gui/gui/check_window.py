"""The check window: "Can I trust this map?" with room for its picture, and "Which map should
I believe for this photo?".

It arranges widgets and delegates: the checks run on the inference worker
(explain.faithfulness, explain.trust, explain.compare), the words and the plot come from
explain.check_words; this window shows them, and asks the main window to show the best map.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vit_gui.explain.check_words import saco_words
from vit_gui.gui.pictures import png_pixmap
from vit_gui.gui.plain import plain_label
from vit_gui.gui.screen_fit import fit_to_screen

PROTOCOL_CHOICES = (
    ("Leave them out", "drop", "token drop: the hidden patches' tokens leave the model's input sequence; the others "
                               "keep their positions"),
    ("Paint them grey", "mean", "mean fill: the hidden patches take the photo normalisation's mean colour"),
    ("Paint them black", "blackout", "black-out, as Chefer et al.'s perturbation test: the map is spread over the "
                                     "pixels and its brightest pixels are set to black"),
)


COLUMNS = (
    ("Map", "the kind of map"),
    ("Verdict (copies it did better than)", "faithful: hiding parts in the map's order changes the model's answer "
     "more than in every one of 19 copies of the map moved elsewhere (p <= 0.05); the count says how many copies it "
     "did better than, of those compared (checking stops once the verdict cannot change)"),
    ("Uses the weights", "the randomisation test (Adebayo et al.): does the map change when the model's weights are "
     "scrambled, layer by layer? A map that does not shows the photo, not the model"),
    ("Stays put", "stability: does the map stay on the same spots when the photo moves by 1-8 pixels?"),
    ("Orders parts", "SaCo (Wu et al.): do the parts the map ranks higher matter more to the model, one tenth of the "
     "photo at a time?"),
)


class CheckWindow(QDialog):
    check_requested = Signal(str)  # protocol
    compare_requested = Signal(str)  # protocol
    cancel_requested = Signal()
    show_map_requested = Signal(object)  # MapSpec

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Can I trust this map?")
        self.busy = False
        self.scores: list = []
        self._build()
        fit_to_screen(self, 900, 680)

    def _build(self) -> None:
        self.subject = plain_label("")
        self.subject.setWordWrap(True)
        self.protocol = QComboBox()
        for words, name, tip in PROTOCOL_CHOICES:
            self.protocol.addItem(words, name)
            self.protocol.setItemData(self.protocol.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.protocol.setToolTip("the check hides parts of the photo and watches the model: how the parts are "
                                 "hidden can change the verdict, so it is always named (hover over each choice)")
        self.check_again = QPushButton("Check this map")
        self.compare = QPushButton("Which map should I believe?")
        self.compare.setToolTip("check every kind of map on this photo against copies of itself moved around the "
                                "photo, whether it changes when the model's weights are scrambled, and whether it "
                                "stays put when the photo moves; the best comes first, and a map that ignores the "
                                "weights is never best")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)  # the line under it says how far, and how long is left
        self.progress.setVisible(False)
        self.status = plain_label("")
        self.status.setWordWrap(True)
        self.plot = QLabel()
        self.plot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plot.setMinimumHeight(200)
        self.words = plain_label("")
        self.words.setWordWrap(True)
        self.words.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _ in COLUMNS])
        for column, (_, tip) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # every column in view: no sideways scrolling
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setVisible(False)
        self.show_best = QPushButton("Show the best map")
        self.show_best.setVisible(False)

        controls = QHBoxLayout()
        controls.addWidget(plain_label("Hide parts of the photo by:"))
        controls.addWidget(self.protocol)
        controls.addStretch()
        controls.addWidget(self.check_again)
        controls.addWidget(self.compare)
        controls.addWidget(self.cancel)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.addWidget(self.table)  # every map compared, first: the answer to the question asked
        body_layout.addWidget(self.show_best, alignment=Qt.AlignmentFlag.AlignRight)
        body_layout.addWidget(self.plot)
        body_layout.addWidget(self.words)
        body_layout.addStretch()
        scroll = QScrollArea()  # on a small screen the report scrolls; the buttons stay in view
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addWidget(self.subject)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        layout.addWidget(close, alignment=Qt.AlignmentFlag.AlignRight)

        self.check_again.clicked.connect(lambda: self._start(self.check_requested, "checking the map"))
        self.compare.clicked.connect(lambda: self._start(self.compare_requested, "checking every kind of map"))
        self.cancel.clicked.connect(self._cancel)
        self.show_best.clicked.connect(self._show_chosen)
        self.table.cellDoubleClicked.connect(lambda row, _column: self._show_row(row))

    # ---- what is checked --------------------------------------------------------------------
    def set_subject(self, text: str) -> None:
        self.subject.setText(text)

    def protocol_name(self) -> str:
        return self.protocol.currentData()

    def start_check(self) -> None:
        self._start(self.check_requested, "checking the map")

    def _start(self, signal, words: str) -> None:
        if self.busy:
            return
        self.busy = True
        for button in (self.check_again, self.compare, self.protocol):
            button.setEnabled(False)
        self.cancel.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.status.setText(f"{words}: the model looks at the photo with parts of it hidden…")
        signal.emit(self.protocol_name())

    def _done(self) -> None:
        self.busy = False
        for button in (self.check_again, self.compare, self.protocol):
            button.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.setVisible(False)

    @Slot()
    def _cancel(self) -> None:
        self.cancel_requested.emit()
        self.cancel.setEnabled(False)
        self.status.setText("stopping…")

    # ---- results ----------------------------------------------------------------------------
    @Slot(str, int)
    def on_progress(self, text: str, permille: int) -> None:
        """The worker's count of what is done and the time left (until Cancel is pressed)."""
        if not self.busy or not self.cancel.isEnabled():
            return
        self.status.setText(text)
        self.progress.setValue(max(0, min(1000, permille)))

    def show_error(self, message: str) -> None:
        self._done()
        self.status.setText(f"not checked: {message}")

    def show_result(self, result) -> None:
        """`result`: an explain.check_words.CheckResult."""
        from vit_gui.explain.check_words import faithfulness_sentence, saco_sentence

        self._done()
        self.status.setText("")
        self.plot.setPixmap(png_pixmap(result.plot_png))
        self.plot.setVisible(True)
        sentences = [faithfulness_sentence(result.faithfulness, result.label), saco_sentence(result.faithfulness)]
        sentences += [test.sentence() for test in (result.randomisation, result.stability) if test is not None]
        self.words.setText("\n\n".join(s for s in sentences if s))

    def score_of(self, spec):
        """The row of the table for `spec`, or None."""
        return next((score for score in self.scores if score.spec == spec), None)

    def show_score(self, score, subject: str, label: str = "") -> None:
        """The map chosen from the table becomes the window's subject: its title and its words;
        the chart of the map checked before is taken away ("Check this map" draws this one's)."""
        from vit_gui.explain.check_words import faithfulness_sentence, saco_sentence

        self.set_subject(subject)
        self.plot.clear()
        self.plot.setVisible(False)  # "Check this map" draws this map's curves
        f = score.faithfulness
        sentences = [faithfulness_sentence(f, label), saco_sentence(f)]
        sentences += [test.sentence() for test in (score.randomisation, score.stability) if test is not None]
        self.words.setText("\n\n".join(s for s in sentences if s))

    def show_compare(self, scores: list) -> None:
        """`scores`: explain.compare.MethodScore, best first; each row's tooltip says why it is there."""
        from vit_gui.explain.compare import best

        self._done()
        self.scores = scores
        self.table.setRowCount(len(scores))
        for row, score in enumerate(scores):
            f, stability, sanity = score.faithfulness, score.stability, score.randomisation
            cells = (score.title, f"{f.verdict} ({f.beaten} of {f.compared})",
                     "—" if sanity is None else ("yes" if sanity.depends_on_weights else "no"),
                     "—" if stability is None else ("yes" if stability.stable else "no"),
                     "—" if f.saco is None else saco_words(f.saco).split(":")[0])
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(score.line())
                self.table.setItem(row, column, item)
        self.table.setVisible(bool(scores))
        self.table.setFixedHeight(self.table.horizontalHeader().height() + 6
                                  + sum(self.table.rowHeight(r) for r in range(len(scores))))
        self.table.selectRow(0)
        self.show_best.setVisible(bool(scores))
        chosen = best(scores)
        if not scores:
            self.status.setText("no map could be checked")
        elif chosen is None:
            self.status.setText("No map can be called best: every one barely changes when the model's weights are "
                                "scrambled, so they show the photo more than the model. Hover over a row for why.")
        else:
            self.status.setText(f"Best for this photo: {chosen.title} ({chosen.why()}). Double-click a row, or "
                                "choose it and click Show, to see that map; hover over a row for its figures.")

    @Slot()
    def _show_chosen(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        self._show_row(rows[0].row() if rows else 0)

    def _show_row(self, row: int) -> None:
        if 0 <= row < len(self.scores) and self.scores[row].spec is not None:  # None: a map given as a function
            self.show_map_requested.emit(self.scores[row].spec)

    def closeEvent(self, event) -> None:
        if self.busy:
            self.cancel_requested.emit()
        super().closeEvent(event)

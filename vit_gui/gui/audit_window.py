"""The shortcut check's window: "Is my model right for the right reason?" over a whole
folder (or the photos a model was just taught with). It runs the audit on a worker
thread with progress, time left and Cancel, then shows each class as pictures first and
words second (audit_sections.ClassSection); a finding's photos open in the main list, and
the whole result saves as one web page (audit.report)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from vit_gui.audit.pictures import KIND_TITLES, maps_read
from vit_gui.explain.check_progress import seconds_words
from vit_gui.gui.audit_sections import ClassSection, MoreClasses
from vit_gui.gui.audit_worker import AuditWorker
from vit_gui.gui.plain import plain_label
from vit_gui.gui.screen_fit import fit_to_screen
from vit_gui.gui.threads import start_held_thread

SUMMARY_CLASSES = 5  # classes named in the summary; the sections below show them all

INTRO = ("Is the model right for the right reason? This looks at the maps of every photo of each class at once: "
         "how the photos group by what the model looked at, which parts of them carried its evidence, and whether "
         "the evidence sits somewhere suspicious (always the same spot, a small mark, the background). A finding "
         "says what was measured in these photos, not why; look at the photos it names.")


class AuditWindow(QDialog):
    show_photos = Signal(list)  # paths a finding, group or part concerns, for the main list
    start = Signal(object, object, str, object)  # source, model, device, root

    def __init__(self, source, model, device: str = "cpu", title: str = "", parent=None):
        """`source`: a folder (Path) or photos already read (audit.collect.Folder); `model`:
        a model file's path or a Predictor in memory; `title`: what was checked, in words."""
        super().__init__(parent)
        self.source, self.model, self.device = source, model, device
        what = title or (Path(source).name if isinstance(source, (str, Path)) else "these photos")
        self.setWindowTitle(f"Check for shortcuts — {what}")
        self.outcome = None
        self.error = ""
        self.sections: list[ClassSection] = []
        self.more: MoreClasses | None = None  # the classes not drawn, in words
        self._build()
        self.worker = AuditWorker()
        self.thread = start_held_thread(self.worker)  # not the window's: closing it never waits
        self.start.connect(self.worker.run)
        self.worker.progress.connect(self.on_progress)
        self.worker.finished.connect(self.on_finished)

    def _build(self) -> None:
        intro = plain_label(INTRO)
        intro.setWordWrap(True)
        self.progress = QProgressBar()
        self.status = plain_label("")
        self.status.setWordWrap(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancel_audit)
        self.again = QPushButton("Check again")
        self.again.setToolTip("read the photos again, as they are now")
        self.again.setVisible(False)
        self.again.clicked.connect(self.run)
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel)
        running.addWidget(self.again)
        self.summary = plain_label("")
        self.summary.setWordWrap(True)
        self.failed = plain_label("")  # photos that could not be read, each with its reason
        self.failed.setWordWrap(True)
        self.failed.setStyleSheet("color: #8a5a00")
        self.failed.setVisible(False)
        self.body = QWidget()  # everything found scrolls, the summary first
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.addWidget(self.summary)
        self.body_layout.addWidget(self.failed)
        self.body_layout.addStretch()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.body)
        self.save_page = QPushButton("Save as a web page…")
        self.save_page.setToolTip("one file with every picture in it: opens in any browser, no server needed")
        self.save_page.setEnabled(False)
        self.save_page.clicked.connect(self.save_page_dialog)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_page)
        bottom.addStretch()
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(running)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        layout.addLayout(bottom)
        fit_to_screen(self, 1180, 760)

    # ---- running ----------------------------------------------------------------------------
    def run(self) -> None:
        """Start the audit (the window shows itself first: the audit takes minutes on a big folder)."""
        self.outcome, self.error = None, ""
        self.worker.rearm()
        self.again.setVisible(False)
        self.cancel.setEnabled(True)
        self.save_page.setEnabled(False)
        self.status.setText("reading the photos…")
        root = Path(self.source) if isinstance(self.source, (str, Path)) else None
        self.start.emit(Path(self.source) if root else self.source, self.model, self.device, root)

    @Slot()
    def cancel_audit(self) -> None:
        self.worker.cancel()  # a direct call: a queued signal would wait behind the audit
        self.cancel.setEnabled(False)
        self.status.setText("stopping…")

    @Slot(int, int, object)
    def on_progress(self, done: int, total: int, left) -> None:
        if not self.cancel.isEnabled():  # cancelled: progress already on its way says no more
            return
        if done < 0:
            self.progress.setRange(0, 0)  # busy: drawing the pictures
            self.status.setText("drawing the pictures…")
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        text = f"{done} of {total} photos looked at"
        if left is not None and done < total:
            text += f", {_time_left(left)}"
        self.status.setText(text)

    @Slot(object, str)
    def on_finished(self, outcome, error: str) -> None:
        self.cancel.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if outcome is not None else 0)
        self.again.setVisible(True)
        if outcome is None:
            self.error = error or "cancelled"
            self.status.setText(f"not checked: {error}" if error else "cancelled: nothing was kept")
            return
        report = outcome.report
        self.outcome = outcome
        checked = sum(len(item["photos"]) for item in report["classes"])
        self.save_page.setEnabled(checked > 0)
        self.status.setText(f"checked {_photo_count(checked, report)} in {seconds_words(report['seconds'])}" if checked else
                            f"nothing was checked: no photo in {report['folder']} could be read")
        self.summary.setText(summary_words(report) if checked else "")
        self.failed.setText(failed_words(report))
        self.failed.setVisible(bool(report["failed"]))
        self._show(outcome.pictures, report)

    def _show(self, pictures, report: dict) -> None:
        """The classes drawn, as pictures, in their order (findings first); the rest in words."""
        for section in self.sections + ([self.more] if self.more is not None else []):
            section.deleteLater()
        self.sections, self.more = [], None
        for number, item in enumerate(pictures):
            section = ClassSection(item)
            section.show_photos.connect(self.show_photos)
            self.body_layout.insertWidget(2 + number, section)
            self.sections.append(section)
        drawn = {item.index for item in pictures}
        rest = [item for index, item in enumerate(report["classes"]) if index not in drawn]
        if rest:
            self.more = MoreClasses(rest)
            self.more.show_photos.connect(self.show_photos)
            self.body_layout.insertWidget(2 + len(self.sections), self.more)

    # ---- saving -----------------------------------------------------------------------------
    @Slot()
    def save_page_dialog(self) -> None:
        """A file the user names (the dialog asks before replacing one): never a silent overwrite."""
        suggested = Path.home() / f"shortcuts-{Path(self.outcome.report['folder']).name or 'check'}.html"
        path, _ = QFileDialog.getSaveFileName(self, "Save the check as a web page", str(suggested),
                                              "Web page (*.html)")
        if path:
            self.save_page_to(Path(path) if path.lower().endswith((".html", ".htm")) else Path(path + ".html"))

    def save_page_to(self, path: Path) -> Path | None:
        """Write the page to `path` (whole or not at all)."""
        from vit_gui.audit.report import page
        from vit_gui.fileio import atomic_write_text

        try:
            atomic_write_text(path, page(self.outcome.report, self.outcome.pictures))
        except OSError as exc:
            self.status.setText(f"could not save the page: {exc.strerror or exc}")
            return None
        self.status.setText(f"saved {path}: it opens in any browser")
        return path

    def done(self, result: int) -> None:
        """Closed: the check stops and the window goes at once; the work under way ends on
        its own thread (threads.start_held_thread), the app never waiting on it."""
        self.worker.cancel()
        self.thread.quit()  # the loop ends once the batch under way returns: no wait here
        super().done(result)
        self.deleteLater()


def summary_words(report: dict, named: int = SUMMARY_CLASSES) -> str:
    """The classes to look at first (up to `named`, then how many more), the classes too small
    to tell, and which map was read."""
    flagged, few = [], []
    for item in report["classes"]:
        kinds = [KIND_TITLES[f["kind"]].lower() for f in item["findings"] if f["kind"] in KIND_TITLES]
        if kinds:
            flagged.append(f'"{item["name"]}" ({", ".join(kinds)})')
        if any(f["kind"] == "too_few" for f in item["findings"]):
            few.append(f'"{item["name"]}"')
    lines = ["Look at: " + "; ".join(flagged[:named]) + (f"; and {len(flagged) - named} more classes below"
                                                          if len(flagged) > named else "") + "."
             if flagged else "No class's evidence stood out in the ways this check measures."]
    if few:
        lines.append(f"Too few photos to tell (10 or more a class are needed): {', '.join(few[:named])}"
                     + (f" and {len(few) - named} more" if len(few) > named else "") + ".")
    lines.append(f"Read from each photo's {maps_read(report)}: where the evidence for its class sits.")
    lines += [note[:1].upper() + note[1:] + "." for note in report.get("notes", [])]
    return "\n".join(lines)


def failed_words(report: dict, shown: int = 10) -> str:
    failed = report["failed"]
    if not failed:
        return ""
    lines = [f"{Path(f['path']).name}: {f['reason']}" for f in failed[:shown]]
    more = f"\n… and {len(failed) - shown} more" if len(failed) > shown else ""
    return f"Left out ({len(failed)} could not be read):\n" + "\n".join(lines) + more


def _time_left(seconds: float) -> str:
    return "less than a second left" if seconds < 1 else f"about {seconds_words(seconds)} left"


def _photo_count(count: int, report: dict) -> str:
    failed = len(report["failed"])
    return f"{count} photo{'s' if count != 1 else ''}" + (f" ({failed} could not be read)" if failed else "")

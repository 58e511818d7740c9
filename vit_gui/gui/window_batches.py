"""The main window's classifying: photos sent to the worker in batches, their progress in
the status bar, Cancel, and whether anything is still under way. A part of the main window
by composition: it owns the batches and the folder walks still adding photos."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Slot

PROGRESS_INTERVAL_S = 0.1  # the progress bar and status redrawn at most this often


class Batches(QObject):
    def __init__(self, window, session, results, worker, send_batch: Callable, top_k, progress, cancel_button,
                 status: Callable[[str], None]):
        """`send_batch(batch_id, work, top_k)` queues a batch on the worker."""
        super().__init__(window)
        self.session, self.results, self.worker, self.send_batch = session, results, worker, send_batch
        self.top_k, self.progress, self.cancel_button, self.status = top_k, progress, cancel_button, status
        self.batch_id = 0
        self.running: dict[int, tuple[int, int]] = {}  # batch id -> (done, total)
        self.walks: list = []  # dropped folders still being walked (window_input.FolderWalk)
        self._progress_shown_at = 0.0
        worker.batch_progress.connect(self.on_batch_progress)
        worker.batch_finished.connect(self.on_batch_finished)

    def classify(self, keys: list[int]) -> None:
        work = self.session.runnable(keys)
        if not work:
            return
        self.batch_id += 1
        self.running[self.batch_id] = (0, len(work))
        self._show_progress()
        self.send_batch(self.batch_id, work, self.top_k.value())

    def is_busy(self) -> bool:
        return bool(self.running) or bool(self.walks)

    @Slot()
    def cancel(self) -> None:
        """Cancel stops the folders still being walked too: their unfound photos are not added,
        and those found but not yet sent to the model say they were cancelled."""
        held_back = any(walk.unclassified for walk in self.walks)
        self.walks.clear()
        if self.running:
            self.worker.cancel_upto(self.batch_id)
            self.status("cancelling…")
        elif held_back:
            for record in self.session.cancel_waiting():
                self.results.set_result(record.key, record)
            self.status("cancelled")

    def stop(self) -> None:
        """The window closes: nothing more is walked or classified."""
        self.walks.clear()
        self.worker.cancel_upto(self.batch_id)

    @Slot(int, int, int)
    def on_batch_progress(self, batch_id: int, done: int, total: int) -> None:
        """Counted for every image, shown at most ten times a second: a status bar and a
        progress bar redrawn per image cost the GUI thread 3 ms each (30 s for 10,000 photos)."""
        if batch_id in self.running:
            self.running[batch_id] = (done, total)
            now = time.monotonic()
            if done == total or now - self._progress_shown_at >= PROGRESS_INTERVAL_S:
                self._progress_shown_at = now
                self._show_progress()

    @Slot(int, bool)
    def on_batch_finished(self, batch_id: int, cancelled: bool) -> None:
        done, total = self.running.pop(batch_id, (0, 0))
        self._show_progress()
        if cancelled:
            self.status(f"cancelled after {done} of {total} images")
            for record in self.session.cancel_waiting():
                self.results.set_result(record.key, record)
        elif not self.running:
            classified, failed = self.session.counts()
            self.status(f"done: {classified} classified" + (f", {failed} failed" if failed else ""))

    def _show_progress(self) -> None:
        done = sum(d for d, _ in self.running.values())
        total = sum(t for _, t in self.running.values())
        busy = bool(self.running)
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.status(f"classifying {done} of {total}…")

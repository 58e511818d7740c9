"""Map maths (and other long drawing work) off the GUI thread: one job at a time; for maps
only the newest request is computed.

Recomputing a map from kept attentions takes milliseconds on an idle machine, but torch's
intra-op threads made it take half a second on a busy one, and DINOv2 at 518 px (1,370
tokens) costs far more: on the GUI thread that froze the window. Jobs run in a private
one-thread pool with torch limited to one thread there; a job whose request has been
superseded (the user is still dragging a slider) is skipped, and only the newest result
reaches the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Relay(QObject):
    """Lives on the GUI thread; a signal emitted from the pool reaches it queued."""

    done = Signal(int, object, str)  # request id, result, error


class _Job(QRunnable):
    def __init__(self, request_id: int, jobs: MapJobs, work: Callable[[], object]):
        super().__init__()
        self.request_id, self.jobs, self.work = request_id, jobs, work

    def run(self) -> None:
        if self.jobs.latest_only and self.request_id != self.jobs.latest:
            return  # superseded while waiting
        import torch

        torch.set_num_threads(1)  # this thread only: the inference worker keeps its threads
        try:
            result, error = self.work(), ""
        except Exception as exc:  # noqa: BLE001 - a map that fails must say so, not kill the app
            result, error = None, str(exc) or type(exc).__name__
        self.jobs.relay.done.emit(self.request_id, result, error)


class MapJobs(QObject):
    finished = Signal(int, object, str)  # request id, result (None on error), error

    def __init__(self, parent=None, latest_only: bool = True):
        super().__init__(parent)
        self.latest_only = latest_only  # False: every job runs and reports (exports)
        self.pool = QThreadPool(self)  # created first, so destroyed first: it waits for its job
        self.pool.setMaxThreadCount(1)
        self.relay = _Relay(self)
        self.relay.done.connect(self._on_done)
        self.latest = 0

    def submit(self, work: Callable[[], object]) -> int:
        """Queue `work` (a callable run on the pool thread); returns its request id."""
        self.latest += 1
        self.pool.start(_Job(self.latest, self, work))
        return self.latest

    def cancel(self) -> None:
        """Drop whatever is pending: its result will not be delivered."""
        self.latest += 1

    @Slot(int, object, str)
    def _on_done(self, request_id: int, result, error: str) -> None:
        if request_id == self.latest or not self.latest_only:
            self.finished.emit(request_id, result, error)

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)

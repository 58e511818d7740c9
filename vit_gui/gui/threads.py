"""A worker QObject on a thread of its own, as every window here runs its long work.

The thread belongs to the window (it is stopped before the window goes) and deletes the
worker when it ends; requests reach the worker as queued signals and answers come back to
`@Slot` methods of the window, so nothing the worker does runs on the GUI thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread


def start_worker_thread(owner: QObject, worker: QObject) -> QThread:
    """Move `worker` to a new thread owned by `owner` and start it. Connect the worker's
    signals right after: it acts only on requests, so nothing is emitted before then."""
    thread = QThread(owner)
    worker.moveToThread(thread)
    thread.finished.connect(worker.deleteLater)
    thread.start()
    return thread


def stop_worker_thread(thread: QThread) -> None:
    """End the thread's event loop and wait for it: a QThread destroyed while running aborts."""
    thread.quit()
    thread.wait()

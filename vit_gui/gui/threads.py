"""A worker QObject on a thread of its own, as every window here runs its long work.

The thread belongs to the window (it is stopped before the window goes) and deletes the
worker when it ends; requests reach the worker as queued signals and answers come back to
`@Slot` methods of the window, so nothing the worker does runs on the GUI thread.
"""

from __future__ import annotations

import atexit

from PySide6.QtCore import QCoreApplication, QObject, QThread


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


#: threads that no window owns (start_held_thread), held here until they have ended (dropped
#: at the next start, never from inside their own thread); any still running are waited for
#: when the app quits
_HELD: set[QThread] = set()


def start_held_thread(worker: QObject) -> QThread:
    """As start_worker_thread, but the thread belongs to no window: the window may close and
    go at once (it only quits the thread's loop) while the work under way ends on the thread, and a window
    deleted for any reason never takes a running thread with it (which aborts the app). A
    shortcut check closed mid-analysis must not freeze the app for the seconds left."""
    for ended in [t for t in _HELD if t.isFinished()]:
        _HELD.discard(ended)
    thread = start_worker_thread(None, worker)
    _HELD.add(thread)
    app = QCoreApplication.instance()
    if app is not None and not getattr(app, "_vit_gui_waits_for_threads", False):
        app._vit_gui_waits_for_threads = True
        app.aboutToQuit.connect(wait_for_held_threads)
    return thread


def wait_for_held_threads() -> None:
    """Before the app (or a test run) ends: a QThread destroyed while running aborts."""
    for thread in list(_HELD):
        thread.quit()
        thread.wait()
    _HELD.clear()


atexit.register(wait_for_held_threads)

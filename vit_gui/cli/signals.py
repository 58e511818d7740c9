"""How the commands treat Ctrl+C (SIGINT) and SIGTERM around steps that must not be cut in
half: writing the results, leaving a Ray cluster. Main thread only; elsewhere
each is a no-op (Python lets only the main thread set handlers)."""

from __future__ import annotations

import signal

from vit_gui.cli.common import say


class _Handler:
    """Sets `number`'s handler for the duration and puts the previous one back."""

    number = signal.SIGINT

    def handler(self):
        raise NotImplementedError

    def __enter__(self):
        try:
            self.previous = signal.signal(self.number, self.handler())
        except ValueError:  # not the main thread
            self.previous = None
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(self.number, self.previous)
        return False


class uninterruptible(_Handler):
    """SIGINT ignored for the duration: for short steps whose half would be worse than a
    moment's wait (the last lines of a results file)."""

    def handler(self):
        return signal.SIG_IGN


class sigterm_as_interrupt(_Handler):
    """SIGTERM (a batch system's stop, `kill`) ends the run as Ctrl+C does: what finished
    is written."""

    number = signal.SIGTERM

    def handler(self):
        return signal.default_int_handler


class ctrl_c_waits(_Handler):
    """Ctrl+C during a step that must finish once begun (leaving a cluster, the results
    already written) is said and otherwise ignored; a second one raises KeyboardInterrupt at
    once, so a step that hangs can still be left."""

    def __init__(self, doing: str):
        self.doing, self.pressed = doing, False

    def handler(self):
        def wait(signum, frame):
            if self.pressed:
                raise KeyboardInterrupt
            self.pressed = True
            say(f"Ctrl+C: {self.doing} first (press it again to stop at once)")

        return wait

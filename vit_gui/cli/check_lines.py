"""The check's progress on the command line: one line rewritten in place on a terminal, a line
every few seconds in a log or a pipe, each with the time left (issue #29, item 8: the check
ran for minutes without a word)."""

from __future__ import annotations

import sys
import time

from vit_gui.cli.common import say

EVERY = 5.0  # seconds between lines when stderr is not a terminal


class CheckLines:
    """`report(sentence, per mille)` for explain.check_progress.CheckProgress, about one photo;
    `end()` closes its last line (after the check, or its error, which goes beside the photo)."""

    def __init__(self, photo: str, clock=time.monotonic):
        self.photo, self.clock = photo, clock
        self.started, self.last_line = clock(), None  # when the last line was written (not on a terminal)
        self.said, self.width = False, 0  # anything said yet; the length of a terminal's open line

    def end(self) -> None:
        if self.said:
            from vit_gui.explain.check_progress import seconds_words

            self(f"done in {seconds_words(self.clock() - self.started)}", 1000)
            self.said = False

    def __call__(self, sentence: str, permille: int) -> None:
        if sys.stderr is None:
            return
        self.said = True
        text = f"checking the map of {self.photo}: {sentence}"
        if sys.stderr.isatty():
            from vit_gui.results_csv import printable

            line = f"vit-gui: {printable(text)}"
            print("\r" + line.ljust(self.width), end="\n" if permille >= 1000 else "", file=sys.stderr, flush=True)
            self.width = 0 if permille >= 1000 else len(line)
            return
        now = self.clock()
        if permille >= 1000 or self.last_line is None or now - self.last_line >= EVERY:
            self.last_line = now
            say(text)

"""How far a check has gone and how long the rest will take, in words, for the window and the
command line (issue #29, item 8: a check on a busy machine took minutes behind a busy bar).

A map's check is its own curves (one unit), then up to 19 moved copies (a unit each: the
same removals, at half the points), then the sanity tests (about SANITY_UNITS units: the
scrambled layers and the moved photo). Checking a map no better than noise stops after a few
copies, so the time left is an upper bound that falls faster than it counts down.
"""

from __future__ import annotations

import time
from collections.abc import Callable

SANITY_UNITS = 4  # the randomisation and stability tests of an attention map, in copies' time


def map_units(copies: int, with_sanity: bool) -> int:
    return 1 + copies + (SANITY_UNITS if with_sanity else 0)


def seconds_words(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{int(seconds // 60)} min {round(seconds % 60):02d} s"


class Countdown:
    """The time left from the share done so far and the time it took (a straight line: the
    check's units cost about the same)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self, fraction: float) -> float | None:
        """Seconds left, or None while too little is done to tell."""
        elapsed = self.elapsed()
        if fraction < 0.02 or elapsed < 0.5:
            return None
        return elapsed * (1 - min(fraction, 1.0)) / fraction

    def words(self, fraction: float) -> str:
        left = self.left(fraction)
        if fraction >= 1:
            return f"done in {seconds_words(self.elapsed())}"
        if left is None:
            return "working out how long it will take"
        return f"at most about {seconds_words(left)} left"


class CheckProgress:
    """Turns the checks' own counts (map m of n; copies done of at most k) into a share done
    and a sentence: `report(sentence, permille)` is the window's or the terminal's."""

    def __init__(self, maps: int, report: Callable[[str, int], None], copies: int = 19, with_sanity: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.maps, self.report, self.copies, self.with_sanity = max(1, maps), report, copies, with_sanity
        self.countdown = Countdown(clock)
        self.map_number, self.title = 0, ""

    @property
    def per_map(self) -> int:
        return map_units(self.copies, self.with_sanity)

    def start_map(self, number: int, title: str = "") -> None:
        self.map_number, self.title = number, title
        self._say(0, "hiding parts of the photo in the map's order")

    def copies_done(self, done: int, most: int) -> None:
        """After the map's own curves and each moved copy (`done` of at most `most`)."""
        self.copies = most
        what = "the map's own order" if done == 0 else f"copies of the map moved elsewhere: {done} of at most {most}"
        self._say(1 + done, f"hiding parts of the photo, {what}")

    def copies_finished(self, compared: int) -> None:
        """The copies are settled (early when the verdict could no longer change)."""
        self._say(1 + self.copies, f"{compared} copies compared" + (
            "; scrambling the model's layers and moving the photo a few pixels" if self.with_sanity else ""))

    def finished(self) -> None:
        self.map_number = self.maps
        self.report(f"done in {seconds_words(self.countdown.elapsed())}", 1000)

    def _say(self, units: int, what: str) -> None:
        fraction = (self.map_number * self.per_map + min(units, self.per_map)) / (self.maps * self.per_map)
        which = f"map {self.map_number + 1} of {self.maps}" + (f" ({self.title})" if self.title else "") + ": " \
            if self.maps > 1 else ""
        self.report(f"{which}{what} · {self.countdown.words(fraction)}", int(1000 * fraction))

"""How far a check has gone and how long the rest will take, in words, for the window and the
command line (issue #29, item 8: a check on a busy machine took minutes behind a busy bar).

A map's check is its own curves (one unit of work), then up to 19 moved copies (a unit each:
the same removals, at half the points), then the sanity tests (about SANITY_UNITS units: the
scrambled layers and the moved photo). The time left is the work still planned, counting
every copy of the maps to come, at the pace of the work done so far: checking a map no better
than noise stops after a few copies, so it usually ends sooner than said, never much later
unless the machine gets busier.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: the randomisation and stability tests of a map, in copies' time (measured on the built-in
#: backbone, token drop: about 4 for an attention map; a gradient map's take longer, and the
#: pace measured as the check goes corrects for it)
SANITY_UNITS = 4


def seconds_words(seconds: float) -> str:
    whole = max(1, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{round(whole / 60)} min" if whole >= 600 else f"{minutes} min {rest:02d} s"


class Countdown:
    """Seconds since the start, and the time left at the pace so far."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started = clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self, worked: float, planned: float) -> float | None:
        """Seconds for `planned` more units after `worked` took the time so far; None while
        too little is done to tell."""
        elapsed = self.elapsed()
        if worked <= 0 or elapsed < 0.5:
            return None
        return elapsed / worked * planned

    def words(self, worked: float, planned: float) -> str:
        left = self.left(worked, planned)
        if left is None:
            return "working out how long it will take"
        return f"up to about {seconds_words(left)} left"


class CheckProgress:
    """Turns the checks' own counts (map m of n; copies done of at most k) into a share done
    and a sentence: `report(sentence, per mille)` is the window's or the terminal's. Only
    `finished` reports 1000."""

    def __init__(self, maps: int, report: Callable[[str, int], None], copies: int = 19, with_sanity: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.maps, self.report, self.copies, self.with_sanity = max(1, maps), report, copies, with_sanity
        self.countdown = Countdown(clock)
        self.map_number, self.title = 0, ""
        self.worked = 0.0  # units actually run, the maps before this one included
        self.before = 0.0  # units run by the maps before this one

    @property
    def per_map(self) -> int:
        return 1 + self.copies + (SANITY_UNITS if self.with_sanity else 0)

    def start_map(self, number: int, title: str = "") -> None:
        if number > 0 and self.with_sanity:  # the map before ran its sanity tests since its copies
            self.worked += SANITY_UNITS
        self.map_number, self.title, self.before = number, title, self.worked
        self._say(0, "hiding parts of the photo in the map's order")

    def copies_done(self, done: int, most: int) -> None:
        """After the map's own curves and each moved copy (`done` of at most `most`)."""
        what = "the map's own order" if done == 0 else f"copies of the map moved elsewhere: {done} of at most {most}"
        self._say(1 + done, f"hiding parts of the photo, {what}")

    def copies_finished(self, compared: int) -> None:
        """The copies are settled (early when the verdict could no longer change)."""
        self._say(1 + self.copies, f"{compared} copies compared" + (
            "; scrambling the model's layers and moving the photo a few pixels" if self.with_sanity else ""),
                  worked=1 + compared)

    def finished(self) -> None:
        self.map_number = self.maps
        self.report(f"done in {seconds_words(self.countdown.elapsed())}", 1000)

    def _say(self, units: int, what: str, worked: int | None = None) -> None:
        """`units`: where this map's check stands of its `per_map`; `worked`: the units it
        really ran (fewer when its copies stopped early)."""
        self.worked = self.before + (units if worked is None else worked)
        share = (self.map_number * self.per_map + min(units, self.per_map)) / (self.maps * self.per_map)
        planned = (self.maps - self.map_number) * self.per_map - min(units, self.per_map)
        which = f"map {self.map_number + 1} of {self.maps}" + (f" ({self.title})" if self.title else "") + ": " \
            if self.maps > 1 else ""
        self.report(f"{which}{what} · {self.countdown.words(self.worked, planned)}", min(999, int(1000 * share)))

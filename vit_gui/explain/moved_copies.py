"""The baseline a map is judged against: copies of the map itself, moved around the photo.

A map's own values, shifted around the photo's patch grid and transposed (on a square photo),
keep their grain and their smoothness: only *where* the values lie changes. A shift runs over
the map tiled with mirror images of itself (period twice the photo's height and width), so a
copy never has a seam: wrapping round like a torus put a smooth map's far edges side by side,
a cliff no real map has. (That was not why smooth noise passed too often: wrapped, mirrored
and seamless look-alike baselines called the same noise maps faithful. One draw of moves
shared by every map of a photo was: faithfulness.Judge.moves_for.) Each copy goes through exactly the same removal as the map (patch order, or bilinear
upsampling and pixel thresholding for the black-out), so single pixels are never compared with
connected regions (issue #29, item 2).

For a map made of noise the moved copies are about as likely as the map itself to do well, so
the Monte-Carlo p-value (1 + copies at least as good) / (copies + 1) calls it faithful about
`ALPHA` of the time or less (measured, not assumed: benchmarks/false_alarms.py). A map that
sits on what the model used loses that when moved. Checking stops as soon as the p-value can
no longer reach `ALPHA` (Besag & Clifford 1991's sequential p-value): the verdict is the same
as with every copy, and a map no better than noise costs a few copies, not all of them.

Letterbox padding never moves: only the photo's rectangle of patches is moved around.
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.05  # the false-alarm rate a "faithful" verdict allows
MOVED_COPIES = 19  # the fewest for which a p-value can reach ALPHA: 1 / (19 + 1)
#: copies compared before checking may stop: "1 of the first 1" says nothing to a person, "2 of
#: the first 4" does (the verdict is the same: faithful needs all 19 beaten)
FEWEST_COPIES = 4
TIE = 1e-9  # a copy within this (relative) of the map's statistic counts as at least as good


def photo_box(photo: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the photo's patches (a letterboxed photo is a rectangle)."""
    rows, cols = np.flatnonzero(photo.any(axis=1)), np.flatnonzero(photo.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _turns(height: int, width: int) -> int:
    """As is, and transposed on a square photo (flips and half turns are mirror shifts already)."""
    return 2 if height == width and height > 1 else 1


def _period(size: int) -> int:
    """The mirror tiling's period along a side: twice it, but 1 for a side one patch long (its
    mirror image is itself, so any shift along it would give the map back unchanged)."""
    return 2 * size if size > 1 else 1


def draw_moves(photo: np.ndarray, count: int, seed: int) -> list[tuple[int, int, int]]:
    """`count` distinct moves (turn, down, right) over the mirror-tiled map, never the identity,
    in a seeded order: down in [0, 2 x height), right in [0, 2 x width)."""
    top, bottom, left, right = photo_box(photo)
    rows, cols = _period(bottom - top), _period(right - left)
    total = _turns(bottom - top, right - left) * rows * cols
    rng = np.random.default_rng(seed)
    picks = rng.choice(np.arange(1, total), size=min(count, total - 1), replace=False) if total > 1 else []
    return [(int(p) // (rows * cols), int(p) % (rows * cols) // cols, int(p) % cols) for p in picks]


def moved(grid_map: np.ndarray, photo: np.ndarray, move: tuple[int, int, int]) -> np.ndarray:
    """The map's photo rectangle (transposed for turn 1), read from its mirror tiling shifted
    by (down, right); padding as it was."""
    top, bottom, left, right = photo_box(photo)
    turn, down, across = move
    copy = np.array(grid_map, np.float64)
    region = copy[top:bottom, left:right]
    region = region.T if turn else region
    height, width = region.shape
    tile = np.pad(region, ((0, _period(height) - height), (0, _period(width) - width)), mode="symmetric")
    copy[top:bottom, left:right] = np.roll(tile, (-down, -across), axis=(0, 1))[:height, :width]
    return copy


def stop_at(copies: int, alpha: float = ALPHA) -> int:
    """How many copies at least as good as the map make a p-value <= alpha impossible."""
    return max(1, math.floor(alpha * (copies + 1) + 1e-9))


def at_least_as_good(statistic: float, copies: np.ndarray) -> int:
    copies = np.asarray(copies, np.float64)
    slack = TIE * max(1.0, abs(statistic))
    return int((copies >= statistic - slack).sum())


def p_value(at_least: int, compared: int, wanted: int, alpha: float = ALPHA) -> float:
    """Besag & Clifford's p-value: (1 + at_least) / (wanted + 1) when every copy was compared,
    at_least / compared when checking stopped early because it reached `stop_at`."""
    if compared < wanted and at_least >= stop_at(wanted, alpha):
        return at_least / compared
    return (1 + at_least) / (compared + 1)


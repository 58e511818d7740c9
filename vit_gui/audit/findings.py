"""Findings in plain words: what was measured about a class's maps, compared with the other
classes' photos, never a verdict on the data.

- same spot: the share of the class's photos whose map peak falls in one box (a quarter of
  the photo's side), against the share of the other classes' photos whose peak falls there.
  Objects sit near the middle of most photos in every class; the comparison keeps that quiet.
- one small spot: the share of the class's photos that put at least SPOT_MASS of their map
  mass in one box of a sixteenth of the photo, wherever it is, against the other classes'.
- outside the object: the share of the class's photos whose object estimate
  (evidence.object_estimate) stands clear of the border and that put over half their map mass
  outside it, against the other classes'.
- a part of its own: a part found in the class (parts.find_parts) that covers a small spot,
  appears in few other classes' photos, and carries the most evidence in many of the class's.

The spot findings are given the class evidence map of a model with classes (evidence.SPOT_MAP),
the others the map chosen. The thresholds were set before the benchmark ran, from what the
words must mean (a majority of the class, clearly more than elsewhere), and none was set or
changed on clean folders: on 8 clean folders before the spot findings read the class
evidence map and 16 new ones after, no class had a shortcut finding (0 of 48 classes; all the
folders are splits of the same 8 photos, so not independent; benchmarks/results/audit.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vit_gui.audit.evidence import border_cells as _border

#: fewer photos than this in a class: the audit says there are too few to tell
MIN_PHOTOS = 10
#: a box is this many grid cells on a side (a quarter of the photo's side at 16 cells)
BOX_CELLS = 4
#: a same-spot or outside-object finding needs at least this share of the class's photos ...
MAJORITY = 0.6
#: ... and this much more than the share of the other classes' photos
MARGIN = 0.3
#: a photo's evidence sits on one small spot when one BOX_CELLS box holds this share of its
#: map mass: almost five times a flat map's 1/16; on the class evidence map the logo-at-random-
#: spots photos measured a median of 0.46, the unmarked class's 0.16 (seed 0), and at most 21%
#: of a clean class's photos reached it (benchmarks/results/audit.md)
SPOT_MASS = 0.3
#: a photo's evidence is outside the object when more than this share of its map mass is
OUTSIDE_MASS = 0.5
#: an object estimate stands out when it touches at most this share of the photo's border
#: cells: the planted objects' estimates touched none in their median photo, crops of whole
#: photos' about a third (benchmarks/results/audit.md)
OBJECT_BORDER = 0.2
#: a part of its own: present in at most this share of other classes' photos ...
FOREIGN = 0.1
#: ... covering at most this share of a photo where present (a spot, not the object) ...
SMALL_AREA = 0.15
#: ... and carrying the most evidence in at least this share of the class's sampled photos
OWN_PART_SHARE = 0.5


@dataclass
class Finding:
    kind: str  # same_spot | small_spot | outside_object | own_part | too_few
    share: float | None  # of the class's photos concerned (None for too_few)
    box: tuple[float, float, float, float] | None  # 0..1 of the model's view (grid), converted later
    photos: list[int]  # class-local indices
    words: str
    elsewhere: float | None = None  # the same measure over the other classes' photos
    details: dict = field(default_factory=dict)


def too_few(name: str, count: int) -> Finding:
    return Finding("too_few", None, None, list(range(count)),
                   f'only {count} "{name}" photo{"s" if count != 1 else ""}: too few to tell how the model decides '
                   f"this class ({MIN_PHOTOS} or more are needed)")


def peaks(heats: np.ndarray) -> np.ndarray:
    """(n, side, side) -> (n, 2) row, column of each map's peak after a 3 x 3 box average
    (a peak is a small area, not one cell)."""
    padded = np.pad(heats, ((0, 0), (1, 1), (1, 1)))
    side = heats.shape[-1]
    smooth = sum(padded[:, r:r + side, c:c + side] for r in range(3) for c in range(3))
    flat = smooth.reshape(len(heats), -1).argmax(axis=1)
    return np.stack(np.divmod(flat, side), axis=1)


def same_spot(name: str, heats: np.ndarray, other_heats: np.ndarray) -> Finding | None:
    if not len(other_heats):
        return None
    side = heats.shape[-1]
    own, elsewhere = peaks(heats), peaks(other_heats)
    best, best_box = -1, (0, 0)
    for r in range(side - BOX_CELLS + 1):
        for c in range(side - BOX_CELLS + 1):
            inside = _in_box(own, r, c).sum()
            if inside > best:
                best, best_box = inside, (r, c)
    r, c = best_box
    hits = _in_box(own, r, c)
    share, other = hits.mean(), _in_box(elsewhere, r, c).mean()
    if share < MAJORITY or share - other < MARGIN:
        return None
    box = (c / side, r / side, (c + BOX_CELLS) / side, (r + BOX_CELLS) / side)
    return Finding("same_spot", float(share), box, np.flatnonzero(hits).tolist(),
                   f'the evidence for "{name}" sits on the same spot in {share:.0%} of its photos, against '
                   f"{other:.0%} of the other classes' photos (a watermark or logo?)", float(other))


def spot_mass(heats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, side, side) -> each map's largest mass in one BOX_CELLS box, and that box's
    (row, column)."""
    sums = np.cumsum(np.cumsum(np.pad(heats, ((0, 0), (1, 0), (1, 0))), axis=1), axis=2)
    k = BOX_CELLS
    boxes = sums[:, k:, k:] - sums[:, :-k, k:] - sums[:, k:, :-k] + sums[:, :-k, :-k]
    flat = boxes.reshape(len(heats), -1)
    best = flat.argmax(axis=1)
    return flat.max(axis=1), np.stack(np.divmod(best, boxes.shape[-1]), axis=1)


def small_spot(name: str, heats: np.ndarray, other_heats: np.ndarray) -> Finding | None:
    if not len(other_heats):
        return None
    mass, corners = spot_mass(heats)
    spotted = mass >= SPOT_MASS
    share, other = spotted.mean(), (spot_mass(other_heats)[0] >= SPOT_MASS).mean()
    if share < MAJORITY or share - other < MARGIN:
        return None
    side, chosen = heats.shape[-1], corners[spotted]
    box = (chosen[:, 1].min() / side, chosen[:, 0].min() / side, (chosen[:, 1].max() + BOX_CELLS) / side,
           (chosen[:, 0].max() + BOX_CELLS) / side)
    return Finding("small_spot", float(share), box, np.flatnonzero(spotted).tolist(),
                   f'the evidence for "{name}" sits on one small spot (a sixteenth of the photo, wherever it is) in '
                   f"{share:.0%} of its photos, against {other:.0%} of the other classes' photos (a watermark or logo?)",
                   float(other))


def _in_box(points: np.ndarray, r: int, c: int) -> np.ndarray:
    return (points[:, 0] >= r) & (points[:, 0] < r + BOX_CELLS) & (points[:, 1] >= c) & (points[:, 1] < c + BOX_CELLS)


def stands_out(objects: np.ndarray, photos: np.ndarray) -> np.ndarray:
    """Each photo's object estimate touches at most OBJECT_BORDER of the photo's border: an
    object that stands out from what surrounds it (a crop of a landscape has none)."""
    touched = []
    for found, photo in zip(objects, photos):
        border = _border(photo)
        touched.append((found & border).sum() / max(border.sum(), 1))
    return np.array(touched) <= OBJECT_BORDER


def outside_share(heats: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """Each photo's map mass outside its object estimate."""
    return 1.0 - (heats * objects).reshape(len(heats), -1).sum(axis=1) / heats.reshape(len(heats), -1).sum(axis=1)


def outside_object(name: str, heats, objects, photos, other_heats, other_objects, other_photos) -> Finding | None:
    """Photos count where an object stands out and over OUTSIDE_MASS of the map is outside it."""
    if not len(other_heats):
        return None
    outside = (outside_share(heats, objects) > OUTSIDE_MASS) & stands_out(objects, photos)
    elsewhere = (outside_share(other_heats, other_objects) > OUTSIDE_MASS) & stands_out(other_objects, other_photos)
    share, other = outside.mean(), elsewhere.mean()
    if share < MAJORITY or share - other < MARGIN:
        return None
    mean = (heats * ~objects)[outside].mean(axis=0)
    return Finding("outside_object", float(share), _mass_box(mean), np.flatnonzero(outside).tolist(),
                   f'the evidence for "{name}" sits outside the main object in {share:.0%} of its photos, against '
                   f"{other:.0%} of the other classes' photos (the background?); the object is estimated from the "
                   "model's own patch features, and only photos where it stands clear of the border count",
                   float(other))


def _mass_box(mean: np.ndarray) -> tuple[float, float, float, float]:
    """The bounding box (0..1) of the cells holding at least half the map's peak value."""
    side = mean.shape[-1]
    rows, cols = np.nonzero(mean >= 0.5 * mean.max()) if mean.max() > 0 else (np.arange(side), np.arange(side))
    return cols.min() / side, rows.min() / side, (cols.max() + 1) / side, (rows.max() + 1) / side


def own_part(name: str, parts: list, sampled: int) -> Finding | None:
    """The first part (by its share of evidence) that is small, rarely elsewhere, and decides
    most of the sampled photos."""
    for number, part in enumerate(parts):
        decided = len(part.decides) / max(sampled, 1)
        if (np.isfinite(part.other_classes) and part.other_classes <= FOREIGN and part.area <= SMALL_AREA
                and decided >= OWN_PART_SHARE):
            boxes = np.array([box for _, box in part.crops])
            box = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
            return Finding("own_part", float(decided), tuple(float(v) for v in box), list(part.decides),
                           f'a group of {len(part.decides)} of the {sampled} "{name}" photos examined is decided by a '
                           f"part that covers about {part.area:.0%} of a photo and appears in "
                           f"{part.other_classes:.0%} of the other classes' photos tested (a watermark or logo?)",
                           float(part.other_classes), {"part": number})
    return None

"""What a class's decision looked at: parts found by factorising its photos' patch tokens
(CRAFT, Fel et al. 2023, with the patch tokens where the class's maps sit standing for
its crops' activations).

Non-negative matrix factorisation needs non-negative data; the final-norm tokens are signed,
so each token t is written [max(t, 0), max(-t, 0)], which loses nothing. A part's share of
the class's evidence is measured, not estimated by Sobol indices as CRAFT does: each patch's
map mass is split among the parts in proportion to their activations there, and summed over
the class's photos (so the shares add up to 1). A part is present in a photo where its
strongest activation reaches half of its typical (median) strongest activation in the
class; the same test on other classes' photos says whether it appears outside the class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: parts per class: CRAFT uses 10-25 on thousands of crops; our samples are up to 64 photos,
#: where more than 5 parts split one object into near-copies
PARTS = 5
#: a part's best-matching crops shown, at most one per photo
CROPS = 6
#: the parts are fitted on the cells that hold this share of each photo's map mass (what the
#: class's evidence sits on, as CRAFT factorises crops of the class), then read on every cell
FIT_MASS = 0.5
#: present where the photo's strongest activation reaches this share of the class's median
PRESENT = 0.5
#: other classes' photos (of their samples) against which each part is tested
OTHER_PHOTOS = 24


@dataclass
class Part:
    share: float  # of the class's evidence (map mass), over the sampled photos
    present: float  # share of the class's sampled photos where the part is present
    other_classes: float  # share of other classes' tested photos where it is present (NaN: none tested)
    area: float  # median share of a photo's cells it covers, where present
    decides: list[int] = field(default_factory=list)  # sampled photos (class-local index) where it carries most evidence
    crops: list[tuple[int, tuple[float, float, float, float]]] = field(default_factory=list)  # (photo, box 0..1 of the grid)


def split_signs(tokens: np.ndarray) -> np.ndarray:
    tokens = tokens.astype(np.float32)
    return np.concatenate([np.clip(tokens, 0, None), np.clip(-tokens, 0, None)], axis=-1)


def find_parts(tokens: list[np.ndarray], photos: list[np.ndarray], heats: list[np.ndarray], members: list[int],
               others: list[tuple[np.ndarray, np.ndarray]], side: int, seed: int = 0) -> list[Part]:
    """`tokens[i]` (cells, width), `photos[i]` (side, side) bool and `heats[i]` (side, side)
    for the class's sampled photos, whose class-local indices are `members`; `others`: other
    classes' (tokens, photo) pairs. Parts sorted by their share of the evidence."""
    import warnings

    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    if len(tokens) < 2:
        return []
    rows = [np.flatnonzero(p.reshape(-1)) for p in photos]
    looked = np.concatenate([split_signs(t[_evident(h.reshape(-1), r)]) for t, h, r in zip(tokens, heats, rows)])
    count = min(PARTS, len(looked) - 1)
    with warnings.catch_warnings():  # parts are read to a few per cent; full convergence changes no finding
        warnings.simplefilter("ignore", ConvergenceWarning)
        nmf = NMF(count, init="nndsvda", max_iter=300, random_state=seed).fit(looked)
    activation = nmf.transform(np.concatenate([split_signs(t[r]) for t, r in zip(tokens, rows)]))  # (all tokens, parts)
    bounds = np.cumsum([0] + [len(r) for r in rows])
    per_photo = [activation[bounds[i]:bounds[i + 1]] for i in range(len(rows))]
    strongest = np.stack([a.max(axis=0) for a in per_photo])  # (photos, parts)
    threshold = PRESENT * np.median(strongest, axis=0)
    present = strongest >= threshold
    evidence = np.stack([_evidence_split(a, h.reshape(-1)[r]) for a, h, r in zip(per_photo, heats, rows)])
    other = _presence_elsewhere(nmf, others, threshold)
    parts = []
    top = evidence.argmax(axis=1)
    for k in range(count):
        areas = [float((a[:, k] >= 0.5 * a[:, k].max()).mean()) for a, here in zip(per_photo, present[:, k]) if here]
        parts.append(Part(
            share=float(evidence[:, k].mean()),
            present=float(present[:, k].mean()),
            other_classes=float(other[k]) if other is not None else float("nan"),
            area=float(np.median(areas)) if areas else 0.0,
            decides=[members[i] for i in np.flatnonzero(top == k)],
            crops=_best_crops(per_photo, rows, members, k, side),
        ))
    return sorted(parts, key=lambda p: -p.share)


def _evident(heat: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The photo cells that hold the first FIT_MASS of the map's mass, strongest first."""
    order = rows[np.argsort(-heat[rows])]
    return order[: int(np.searchsorted(np.cumsum(heat[order]), FIT_MASS * heat[rows].sum())) + 1]


def _evidence_split(activation: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Each part's share of one photo's map mass: a patch's mass split by the parts' activations."""
    totals = activation.sum(axis=1, keepdims=True)
    weights = np.divide(activation, totals, out=np.zeros_like(activation), where=totals > 0)
    mass = heat / heat.sum() if heat.sum() > 0 else np.full_like(heat, 1 / len(heat))
    return mass @ weights


def _presence_elsewhere(nmf, others, threshold) -> np.ndarray | None:
    if not others:
        return None
    strongest = []
    for tokens, photo in others:
        rows = np.flatnonzero(photo.reshape(-1))
        strongest.append(nmf.transform(split_signs(tokens[rows])).max(axis=0))
    return (np.stack(strongest) >= threshold).mean(axis=0)


def _best_crops(per_photo, rows, members, k, side) -> list:
    """The CROPS photos where part k is strongest, each with the 3 x 3 cells around its peak."""
    peaks = [(a[:, k].max(), i, rows[i][int(a[:, k].argmax())]) for i, a in enumerate(per_photo)]
    crops = []
    for _, i, cell in sorted(peaks, key=lambda p: -p[0])[:CROPS]:
        r, c = divmod(int(cell), side)
        box = (max(c - 1, 0) / side, max(r - 1, 0) / side, min(c + 2, side) / side, min(r + 2, side) / side)
        crops.append((members[i], box))
    return crops

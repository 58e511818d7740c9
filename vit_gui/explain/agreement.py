"""How much two models agree on a photo, and over many: their top classes (compared by name,
since two models number their classes differently) and where they look (their maps' rank
correlation on the photo itself).

Each map is laid over the photo through its own model's geometry (crop or letterbox, input
size, patch grid) at PHOTO_SIDE pixels on the photo's longer side, and only the pixels both
models saw are compared: so a ViT-B/16 at 224 and a DINOv2 ViT-S/14 at 518, or a crop and
a letterbox, compare on the same photo, which their patch grids cannot. Spearman's rank
correlation, because two maps' scales mean nothing to each other (rollout against class
evidence, a model's sharper or flatter maps); only their order over the photo does.

Over a folder the photos are the units: top-1 agreement with its Wilson 95% interval,
mean map agreement with a bootstrap 95% interval over photos (seeded, so a rerun agrees).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vit_gui.explain.overlay import heat_on_image

PHOTO_SIDE = 64  # pixels on the photo's longer side where two maps are compared
MIN_PIXELS = 16  # fewer pixels seen by both models: no map agreement is given
BOOTSTRAP = 2000
BOOTSTRAP_ELEMENTS = 1_000_000  # resampled indices held at once
Z95 = 1.959964


def same_class_name(a: str, b: str) -> bool:
    """Two models' class names for the same class: compared by name (their indices differ),
    case and runs of spaces aside."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def map_on_photo(grid_map: np.ndarray, geometry, side: int = PHOTO_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(heat, seen): the map over the photo at `side` pixels on its longer side, and the
    pixels the model saw."""
    width, height = geometry.image_size
    scale = side / max(width, height)
    return heat_on_image(grid_map, geometry, (max(1, round(width * scale)), max(1, round(height * scale))))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks (as Spearman's rho needs)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho of two equal-length samples; None where either is constant."""
    ra, rb = average_ranks(np.ravel(a)), average_ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    scale = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return None if scale == 0 else float(ra @ rb) / scale


def map_agreement(map_a: np.ndarray, geometry_a, map_b: np.ndarray, geometry_b) -> tuple[float | None, float]:
    """(rank correlation over the pixels both saw, or None; the share of the photo both saw)."""
    heat_a, seen_a = map_on_photo(map_a, geometry_a)
    heat_b, seen_b = map_on_photo(map_b, geometry_b)
    both = seen_a & seen_b
    if both.sum() < MIN_PIXELS:
        return None, float(both.mean())
    return rank_correlation(heat_a[both], heat_b[both]), float(both.mean())


@dataclass
class PhotoAgreement:
    path: str
    top_a: str | None  # None: the model has no classes
    prob_a: float | None
    top_b: str | None
    prob_b: float | None
    maps: float | None  # rank correlation of the maps on the photo
    seen_by_both: float
    error: str | None = None

    @property
    def top_agree(self) -> bool | None:
        if self.error or self.top_a is None or self.top_b is None:
            return None
        return same_class_name(self.top_a, self.top_b)

    def disagreement(self) -> tuple:
        """A sort key: photos whose top-1 differs first, then those whose maps differ most."""
        return (self.top_agree is not False, self.maps if self.maps is not None else 2.0)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson's 95% interval for a proportion."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + Z95 ** 2 / (2 * n)) / (1 + Z95 ** 2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n)) / (1 + Z95 ** 2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile interval of the mean, resampling photos."""
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    # resamples drawn a block at a time from the same stream (the same numbers as all at once):
    # 2,000 x 100,000 photos at once held 1.6 GB of indices
    rows = max(1, BOOTSTRAP_ELEMENTS // len(values))
    means = np.concatenate([values[rng.integers(0, len(values), size=(min(rows, BOOTSTRAP - done), len(values)))]
                            .mean(axis=1) for done in range(0, BOOTSTRAP, rows)])
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def summarise(rows: list[PhotoAgreement]) -> dict:
    """Top-1 agreement and mean map agreement over the photos, each with its interval and n."""
    verdicts = [r.top_agree for r in rows if r.top_agree is not None]
    maps = np.array([r.maps for r in rows if r.maps is not None], np.float64)
    agree = sum(verdicts)
    return {
        "photos": len(rows),
        "failed": sum(r.error is not None for r in rows),
        "top1_agreement": agree / len(verdicts) if verdicts else None,
        "top1_agreement_interval": list(wilson(agree, len(verdicts))) if verdicts else None,
        "top1_compared": len(verdicts),
        "top1_disagreements": len(verdicts) - agree,
        "map_agreement_mean": float(maps.mean()) if len(maps) else None,
        "map_agreement_interval": list(bootstrap_mean(maps)) if len(maps) else None,
        "maps_compared": int(len(maps)),
    }

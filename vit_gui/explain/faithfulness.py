"""Can I trust this map? Deletion and insertion curves against a distribution of random
orders, and SaCo, for one photo.

- Deletion (Petsiuk et al. 2018; Chefer et al.'s positive perturbation): remove the photo's
  patches most relevant first, a tenth at a time; a faithful map makes the score fall fast
  (a low area under the curve). Insertion (negative perturbation): least relevant first; it
  should hold (a high area).
- The baseline is a distribution: `RANDOM_ORDERS` random orders, seeded by the photo and
  the explained class (every map of one photo meets the same orders), each an area; the map
  is "more faithful than random" only where the gap between its area and their mean exceeds
  their spread (standard deviation).
- SaCo (Wu et al., CVPR 2024): the photo's patches in ten groups by the map's value; each
  group removed alone; every pair of groups whose salience and effect disagree in order
  counts against the map, weighted by their salience difference: +1 is a perfect ordering,
  0 no better than chance.
- The score is the explained class's probability for a classifier; for a backbone (no
  classes) it is the cosine between the class-token embedding of the altered photo and of
  the whole photo: how fast the photo stops looking like itself.

Only photo patches count: letterbox padding is never ranked, removed or counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vit_gui.explain.photo_area import photo_patches, photo_pixels
from vit_gui.explain.removal import PROTOCOL_NAMES, Remover, check_protocol, pixel_values

STEPS = 10
RANDOM_ORDERS = 10
SACO_GROUPS = 10


@dataclass
class Curve:
    fractions: np.ndarray  # share of the photo removed at each point, 0 … 1
    scores: np.ndarray  # the score at each point

    @property
    def auc(self) -> float:
        return float(((self.scores[1:] + self.scores[:-1]) / 2 * np.diff(self.fractions)).sum())  # trapezoids


@dataclass
class RandomBaseline:
    fractions: np.ndarray
    curves: np.ndarray  # (orders, points)

    @property
    def aucs(self) -> np.ndarray:
        return np.array([Curve(self.fractions, c).auc for c in self.curves])

    @property
    def mean_curve(self) -> Curve:
        return Curve(self.fractions, self.curves.mean(axis=0))  # the mean score, not a vote

    @property
    def mean(self) -> float:
        return float(self.aucs.mean())

    @property
    def spread(self) -> float:
        return float(self.aucs.std(ddof=1)) if len(self.curves) > 1 else 0.0

    @property
    def low(self) -> float:
        return float(self.aucs.min())

    @property
    def high(self) -> float:
        return float(self.aucs.max())


@dataclass
class Faithfulness:
    protocol: str
    measure: str  # "probability" (of class_index) or "cosine" (of the photo's embedding)
    class_index: int | None
    deletion: Curve
    insertion: Curve
    random: RandomBaseline
    saco: float | None
    photo_patches: int
    padding_patches: int

    @property
    def deletion_beats_random(self) -> bool:
        return self.random.mean - self.deletion.auc > self.random.spread

    @property
    def insertion_beats_random(self) -> bool:
        return self.insertion.auc - self.random.mean > self.random.spread

    @property
    def verdict(self) -> str:
        """"faithful", "partly faithful" or "not shown to be faithful"; beating random means
        a gap to the random orders' mean area larger than their spread (standard deviation),
        not just a better area than their mean."""
        wins = self.deletion_beats_random + self.insertion_beats_random
        return ("faithful", "partly faithful", "not shown to be faithful")[2 - wins]

    @property
    def gap(self) -> float:
        """How much faster the map's top patches take the score down than random ones do."""
        return self.random.mean - self.deletion.auc

    def to_json(self) -> dict:
        rounded = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
        return {"protocol": PROTOCOL_NAMES[self.protocol], "measure": self.measure, "class_index": self.class_index,
                "deletion_auc": round(self.deletion.auc, 6), "insertion_auc": round(self.insertion.auc, 6),
                "random_auc": round(self.random.mean, 6), "random_auc_std": round(self.random.spread, 6),
                "random_auc_range": [round(self.random.low, 6), round(self.random.high, 6)],
                "random_orders": len(self.random.curves), "verdict": self.verdict,
                "saco": None if self.saco is None else round(self.saco, 6),
                "photo_patches": self.photo_patches, "padding_patches": self.padding_patches,
                "fractions": rounded(self.deletion.fractions), "deletion": rounded(self.deletion.scores),
                "insertion": rounded(self.insertion.scores), "random": rounded(self.random.mean_curve.scores)}


def removal_counts(units: int, steps: int = STEPS) -> list[int]:
    return [round(k * units / steps) for k in range(steps + 1)]


def saco(salience: np.ndarray, effect: np.ndarray) -> float:
    """Wu et al.'s coefficient for groups ordered by salience (most first): `salience[i]` the
    group's summed map value, `effect[i]` how much removing it alone lowered the score."""
    total = weight_sum = 0.0
    for i in range(len(salience) - 1):
        for j in range(i + 1, len(salience)):
            weight = salience[i] - salience[j]
            signed = weight if effect[i] >= effect[j] else -weight
            total += signed
            weight_sum += abs(signed)
    return total / weight_sum if weight_sum else 0.0


class Judge:
    """One photo, one model, one removal protocol and one explained score: judges any number
    of maps against the same random orders (drawn once, seeded by the photo and the class)."""

    def __init__(self, predictor, image, protocol: str = "drop", class_index: int | None = None,
                 steps: int = STEPS, random_orders: int = RANDOM_ORDERS,
                 cancelled: Callable[[], bool] | None = None):
        check_protocol(protocol)
        model = predictor.model
        self.protocol, self.steps, self.orders_wanted = protocol, steps, random_orders
        self.pixels, (geometry,) = predictor.prepare([image])
        self.grid, self.patch = model.grid_for(*self.pixels.shape[-2:]), model.patch_size
        self.photo = photo_patches(geometry, self.grid, self.patch)
        with torch.inference_mode():
            out = model(self.pixels)
        if out.logits is None:  # a backbone: follow the photo's embedding
            self.measure, self.class_index = "cosine", None
            reference = out.features.float()
            score = lambda _logits, features: torch.cosine_similarity(features.float(), reference, dim=-1)  # noqa: E731
        else:
            self.measure = "probability"
            self.class_index = int(out.logits[0].argmax()) if class_index is None else int(class_index)
            index = self.class_index
            score = lambda logits, _features: torch.softmax(logits.float(), dim=-1)[:, index]  # noqa: E731
        prep = predictor.info.preprocessing
        self.remover = Remover(model, self.pixels, protocol, prep.mean, prep.std, score, cancelled)
        if protocol == "blackout":
            seen = np.zeros(geometry.input_size, bool)
            seen[: self.grid[0] * self.patch, : self.grid[1] * self.patch] = True
            self.units = np.flatnonzero((photo_pixels(geometry) & seen)[: self.grid[0] * self.patch,
                                                                            : self.grid[1] * self.patch])
        else:
            self.units = np.flatnonzero(self.photo.ravel())
        self.fractions = np.array(removal_counts(len(self.units), steps)) / len(self.units)
        digest = hashlib.sha256(self.pixels.float().cpu().numpy().tobytes()).digest()
        self.seed = int.from_bytes(digest[:8], "little") ^ (0 if self.class_index is None else self.class_index + 1)
        self._random: RandomBaseline | None = None

    def curves(self, orders: list[np.ndarray]) -> np.ndarray:
        """Scores (orders, steps + 1) removing the units in each order (positions into `units`)."""
        masks = []
        for order in orders:
            for count in removal_counts(len(self.units), self.steps):
                removed = np.zeros(self.remover.unit_count, bool)
                removed[self.units[order[:count]]] = True
                masks.append(removed)
        return self.remover.run(np.stack(masks)).reshape(len(orders), self.steps + 1)

    @property
    def random(self) -> RandomBaseline:
        if self._random is None:
            rng = np.random.default_rng(self.seed)
            orders = [rng.permutation(len(self.units)) for _ in range(self.orders_wanted)]
            self._random = RandomBaseline(self.fractions, self.curves(orders))
        return self._random

    def unit_values(self, grid_map: np.ndarray) -> np.ndarray:
        """The map's value for each removable unit (a patch, or a pixel for the black-out)."""
        grid_map = np.asarray(grid_map, np.float64)
        if tuple(grid_map.shape) != tuple(self.grid):
            raise ValueError(f"the map is {grid_map.shape[0]}x{grid_map.shape[1]}, the image has "
                             f"{self.grid[0]}x{self.grid[1]} patches")
        values = pixel_values(grid_map, self.patch) if self.protocol == "blackout" else grid_map
        return np.asarray(values, np.float64).ravel()[self.units]

    def judge(self, grid_map: np.ndarray, with_saco: bool = True) -> Faithfulness:
        values = self.unit_values(grid_map)
        most_first = np.argsort(-values, kind="stable")
        least_first = np.argsort(values, kind="stable")
        deletion, insertion = self.curves([most_first, least_first])
        padding = int((~self.photo).sum())
        return Faithfulness(self.protocol, self.measure, self.class_index, Curve(self.fractions, deletion),
                            Curve(self.fractions, insertion), self.random,
                            self.saco(grid_map) if with_saco else None, int(self.photo.sum()), padding)

    def saco(self, grid_map: np.ndarray, groups: int = SACO_GROUPS) -> float:
        """SaCo over the photo's patches (groups removed alone with this protocol)."""
        values = np.asarray(grid_map, np.float64).ravel()
        patches = np.flatnonzero(self.photo.ravel())
        ordered = patches[np.argsort(-values[patches], kind="stable")]
        parts = [part for part in np.array_split(ordered, min(groups, len(ordered))) if len(part)]
        masks = np.zeros((len(parts) + 1, self.grid[0] * self.grid[1]), bool)
        for row, part in enumerate(parts, 1):
            masks[row, part] = True
        scores = self.remover.run(self.remover.patches_as_units(masks))
        return saco(np.array([values[part].sum() for part in parts]), scores[0] - scores[1:])


def check_map(predictor, image, grid_map: np.ndarray, class_index: int | None = None, protocol: str = "drop",
              steps: int = STEPS, random_orders: int = RANDOM_ORDERS,
              cancelled: Callable[[], bool] | None = None) -> Faithfulness:
    """The whole check of one map: curves, the random orders, SaCo."""
    return Judge(predictor, image, protocol, class_index, steps, random_orders, cancelled).judge(grid_map)

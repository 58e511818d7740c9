"""Can I trust this map? Deletion and insertion curves, judged against copies of the map moved
around the photo, and SaCo, for one photo.

- Deletion (Petsiuk et al. 2018; Chefer et al.'s positive perturbation): remove the photo's
  patches most relevant first, a tenth at a time; a faithful map makes the score fall fast
  (a low area under the curve). Insertion (negative perturbation): least relevant first; it
  should hold (a high area). One statistic joins them: insertion area minus deletion area.
- The baseline is the map's own values moved around the photo (`moved_copies`): same grain,
  same smoothness, same removal pipeline. The map is "faithful" when its statistic beats
  that many moved copies that the p-value is at most ALPHA. Rough noise maps are called
  faithful at most about ALPHA of the time, as measured (FALSE_ALARMS).
- SaCo (Wu et al., CVPR 2024): the photo's patches in ten groups by the map's value; each
  group removed alone; every pair of groups whose salience and effect disagree in order
  counts against the map, weighted by their salience difference: +1 is a perfect ordering,
  0 no better than chance.
- The score is the explained class's log-odds for a classifier, log p - log(1 - p): a
  probability stuck at 0.99 hides what removal does (issue #29, item 3). For a backbone (no
  classes) it is the cosine between the class-token embedding of the altered photo and of
  the whole photo: how fast the photo stops looking like itself.

Only photo patches count: letterbox padding is never ranked, removed, moved or counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from vit_gui.explain import moved_copies as mc
from vit_gui.explain.photo_area import photo_patches, photo_pixels
from vit_gui.explain.removal import PROTOCOL_NAMES, PROTOCOLS, Remover, check_protocol, pixel_values

STEPS = 10
#: the points the map is judged at, and its copies drawn at: every other point of the map's own
#: curve (the false-alarm rate was measured at these 5 steps; 10 would double the check's time)
JUDGE_STEPS = 5
RANDOM_ORDERS = mc.MOVED_COPIES  # the old name: how many moved copies a map meets at most
SACO_GROUPS = 10
MEASURES = {"log-odds": "the class's log-odds, log p - log(1 - p)",
            "cosine": "the cosine of the photo's embedding to the unaltered photo's"}
#: noise maps called faithful / checked, by kind of noise, on the built-in backbone and a probe on
#: it: benchmarks/false_alarms.py, benchmarks/results/false-alarms.md (smooth noise exceeds ALPHA)
#: noise maps called faithful / checked (5 photos, 3 protocols, 2 model kinds), moves drawn per
#: map as the check does: false-alarms-drawn-per-map.md and false-alarms-per-map.md
FALSE_ALARMS = {"speckled maps": (1, 90), "maps with broad blotches": (2, 90),
                "maps with blotches a patch wide": (12, 270)}


def log_odds(logits: torch.Tensor, index: int) -> torch.Tensor:
    """log p_c - log(1 - p_c) = logit_c - logsumexp of the other logits (the logit itself for
    a one-logit head): it does not saturate as the probability does."""
    logits = logits.float()
    if logits.shape[-1] == 1:
        return logits[..., 0]
    others = torch.cat([logits[..., :index], logits[..., index + 1 :]], dim=-1)
    return logits[..., index] - torch.logsumexp(others, dim=-1)


@dataclass
class Curve:
    fractions: np.ndarray  # share of the photo removed at each point, 0 … 1
    scores: np.ndarray  # the score at each point

    @property
    def auc(self) -> float:
        return float(((self.scores[1:] + self.scores[:-1]) / 2 * np.diff(self.fractions)).sum())  # trapezoids


def _aucs(fractions: np.ndarray, curves: np.ndarray) -> np.ndarray:
    return np.array([Curve(fractions, c).auc for c in curves])


@dataclass
class MovedCopies:
    """The curves of the copies compared so far (in their drawn order)."""

    fractions: np.ndarray
    deletion: np.ndarray  # (copies, points)
    insertion: np.ndarray
    moves: list = field(default_factory=list)  # (turn, down, right) of each

    @property
    def statistics(self) -> np.ndarray:
        return _aucs(self.fractions, self.insertion) - _aucs(self.fractions, self.deletion)

    @property
    def deletion_aucs(self) -> np.ndarray:
        return _aucs(self.fractions, self.deletion)

    @property
    def curves(self) -> np.ndarray:  # the deletion curves: what the plot's band shows
        return self.deletion

    @property
    def mean_curve(self) -> Curve:
        return Curve(self.fractions, self.deletion.mean(axis=0))

    @property
    def mean(self) -> float:
        return float(self.deletion_aucs.mean())

    @property
    def spread(self) -> float:
        return float(self.deletion_aucs.std(ddof=1)) if len(self.deletion) > 1 else 0.0


@dataclass
class Faithfulness:
    protocol: str
    measure: str  # "log-odds" (of class_index) or "cosine" (of the photo's embedding)
    class_index: int | None
    deletion: Curve
    insertion: Curve
    copies: MovedCopies
    saco: float | None
    photo_patches: int
    padding_patches: int
    copies_wanted: int = mc.MOVED_COPIES
    alpha: float = mc.ALPHA
    every: int = 1  # the copies have every `every`-th point of the map's curves

    @property
    def judged(self) -> np.ndarray:
        """The points of the map's curves that its copies have too (every point, or every other)."""
        return np.arange(0, len(self.deletion.fractions), self.every)

    @property
    def statistic(self) -> float:
        """Insertion area minus deletion area, at the points the copies have: higher is more faithful."""
        at = self.judged
        fractions = self.deletion.fractions[at]
        return Curve(fractions, self.insertion.scores[at]).auc - Curve(fractions, self.deletion.scores[at]).auc

    @property
    def compared(self) -> int:
        return len(self.copies.deletion)

    @property
    def at_least_as_good(self) -> int:
        return mc.at_least_as_good(self.statistic, self.copies.statistics)

    @property
    def beaten(self) -> int:
        return self.compared - self.at_least_as_good

    @property
    def stopped_early(self) -> bool:
        return self.compared < self.copies_wanted

    @property
    def p_value(self) -> float:
        return mc.p_value(self.at_least_as_good, self.compared, self.copies_wanted, self.alpha)

    @property
    def faithful(self) -> bool:
        return self.p_value <= self.alpha + 1e-12

    @property
    def verdict(self) -> str:
        """"faithful" (p <= alpha against its moved copies) or "not shown to be faithful";
        one test, so no "partly"."""
        return "faithful" if self.faithful else "not shown to be faithful"

    @property
    def standing(self) -> str:
        """Where the map stands among its moved copies, in plain words that claim no more than
        the count (the p-value is in the figures and the tooltip)."""
        if self.stopped_early:
            return (f"{self.at_least_as_good} of the first {self.compared} copies of the map moved elsewhere on the "
                    "photo did as well or better, so more copies were not needed")
        if self.beaten == self.compared:
            return f"it did better than all {self.compared} copies of itself moved elsewhere on the photo"
        return f"it did better than {self.beaten} of {self.compared} copies of itself moved elsewhere on the photo"

    @property
    def gap(self) -> float:
        """How much faster the map's top patches take the score down than its moved copies'."""
        at = self.judged
        return self.copies.mean - Curve(self.deletion.fractions[at], self.deletion.scores[at]).auc

    def to_json(self) -> dict:
        rounded = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
        aucs = self.copies.deletion_aucs
        return {"protocol": PROTOCOL_NAMES[self.protocol], "measure": self.measure, "class_index": self.class_index,
                "deletion_auc": round(self.deletion.auc, 6), "insertion_auc": round(self.insertion.auc, 6),
                "statistic": round(self.statistic, 6), "p_value": round(self.p_value, 6),
                "copies_beaten": self.beaten, "copies_compared": self.compared,
                "copies_wanted": self.copies_wanted, "alpha": self.alpha,
                "random_auc": round(self.copies.mean, 6), "random_auc_std": round(self.copies.spread, 6),
                "random_auc_range": [round(float(aucs.min()), 6), round(float(aucs.max()), 6)],
                "random_orders": self.compared, "baseline": "the map's own values moved around the photo",
                "verdict": self.verdict, "saco": None if self.saco is None else round(self.saco, 6),
                "photo_patches": self.photo_patches, "padding_patches": self.padding_patches,
                "fractions": rounded(self.deletion.fractions), "deletion": rounded(self.deletion.scores),
                "insertion": rounded(self.insertion.scores), "random": rounded(self.copies.mean_curve.scores),
                "random_fractions": rounded(self.copies.fractions)}


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
    of maps, each against its own copies moved by the same moves (seeded by the photo, the
    class and the protocol). `random_orders`: how many moved copies at most."""

    def __init__(self, predictor, image, protocol: str = "drop", class_index: int | None = None,
                 steps: int = STEPS, random_orders: int = RANDOM_ORDERS,
                 cancelled: Callable[[], bool] | None = None, alpha: float = mc.ALPHA, early_stop: bool = True,
                 follow: str = "log-odds", judge_steps: int = JUDGE_STEPS):
        """`follow`: a classifier's score, "log-odds" (the check's) or "probability" (what
        torchcam's deletion/insertion metric follows; for the parity tests). `judge_steps`: the
        copies' steps (the map's curve's own when `steps` is not a multiple of it)."""
        check_protocol(protocol)
        if follow not in ("log-odds", "probability"):
            raise ValueError(f"follow must be 'log-odds' or 'probability', got {follow!r}")
        model = predictor.torch_model
        self.protocol, self.steps, self.alpha, self.early_stop = protocol, steps, alpha, early_stop
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
            self.measure = follow
            self.class_index = int(out.logits[0].argmax()) if class_index is None else int(class_index)
            index = self.class_index
            if follow == "probability":
                score = lambda logits, _features: torch.softmax(logits.float(), dim=-1)[..., index]  # noqa: E731
            else:
                score = lambda logits, _features: log_odds(logits, index)  # noqa: E731
        prep = predictor.info.preprocessing
        self.remover = Remover(model, self.pixels, protocol, prep.mean, prep.std, score, cancelled)
        if protocol == "blackout":
            seen = np.zeros(geometry.input_size, bool)
            seen[: self.grid[0] * self.patch, : self.grid[1] * self.patch] = True
            self.units = np.flatnonzero((photo_pixels(geometry) & seen)[: self.grid[0] * self.patch,
                                                                            : self.grid[1] * self.patch])
        else:
            self.units = np.flatnonzero(self.photo.ravel())
        self.counts = removal_counts(len(self.units), steps)
        self.fractions = np.array(self.counts) / len(self.units)
        if steps < 1 or judge_steps < 1:
            raise ValueError(f"steps and judge_steps must be at least 1, got {steps} and {judge_steps}")
        copy_steps = judge_steps if steps % judge_steps == 0 else steps
        self.every = steps // copy_steps  # by index: with fewer units than steps, counts repeat
        self.copy_counts = removal_counts(len(self.units), copy_steps)
        self.copy_fractions = np.array(self.copy_counts) / len(self.units)
        digest = hashlib.sha256(self.pixels.float().cpu().numpy().tobytes()).digest()
        self.seed = (int.from_bytes(digest[:8], "little") ^ (0 if self.class_index is None else self.class_index + 1)
                     ^ (PROTOCOLS.index(protocol) << 40))
        self.random_orders = random_orders
        self.moves = mc.draw_moves(self.photo, random_orders, self.seed)  # the photo's own draw; each map gets its own (moves_for)
        self._ends: np.ndarray | None = None

    def _masks(self, order: np.ndarray, counts: list[int]) -> list[np.ndarray]:
        masks = []
        for count in counts:
            removed = np.zeros(self.remover.unit_count, bool)
            removed[self.units[order[:count]]] = True
            masks.append(removed)
        return masks

    def curves(self, orders: list[np.ndarray], counts: list[int] | None = None) -> np.ndarray:
        """Scores (orders, points) removing the first `counts` units (the map's curve's by
        default) in each order (positions into `units`); nothing and everything removed are the
        same for every order, so they run once."""
        counts = self.counts if counts is None else counts
        if self._ends is None:
            self._ends = self.remover.run(np.stack(self._masks(np.arange(len(self.units)), [0, len(self.units)])))
        inner = counts[1:-1]
        masks = [mask for order in orders for mask in self._masks(order, inner)]
        middle = self.remover.run(np.stack(masks)).reshape(len(orders), len(inner), *self._ends.shape[1:])
        ends = np.broadcast_to(self._ends, (len(orders), *self._ends.shape))
        return np.concatenate([ends[:, :1], middle, ends[:, 1:]], axis=1)

    def unit_values(self, grid_map: np.ndarray) -> np.ndarray:
        """The map's value for each removable unit (a patch, or a pixel for the black-out)."""
        grid_map = np.asarray(grid_map, np.float64)
        if tuple(grid_map.shape) != tuple(self.grid):
            raise ValueError(f"the map is {grid_map.shape[0]}x{grid_map.shape[1]}, the image has "
                             f"{self.grid[0]}x{self.grid[1]} patches")
        values = pixel_values(grid_map, self.patch) if self.protocol == "blackout" else grid_map
        return np.asarray(values, np.float64).ravel()[self.units]

    def both_curves(self, grid_map: np.ndarray, counts: list[int] | None = None) -> np.ndarray:
        """(2, points): deletion (most relevant first) and insertion (least first)."""
        values = self.unit_values(grid_map)
        return self.curves([np.argsort(-values, kind="stable"), np.argsort(values, kind="stable")], counts)

    def moves_for(self, grid_map: np.ndarray) -> list[tuple[int, int, int]]:
        """The moves this map meets: drawn afresh for each map (seeded by the photo, class,
        protocol and the map's own values, so a check is reproducible). Moves drawn once per
        photo made every map on it share one draw's luck: noise maps in blotches a patch wide
        passed 11.5% of the time so, 5.0% with moves drawn per map
        (benchmarks/results/false-alarms-per-map.md)."""
        digest = hashlib.sha256(np.ascontiguousarray(grid_map, np.float64).tobytes()).digest()
        return mc.draw_moves(self.photo, self.random_orders, self.seed ^ int.from_bytes(digest[:7], "little"))

    def moved(self, grid_map: np.ndarray, move) -> np.ndarray:
        return mc.moved(grid_map, self.photo, move)

    def judge(self, grid_map: np.ndarray, with_saco: bool = True,
              progress: Callable[[int, int], None] | None = None) -> Faithfulness:
        """The map's curves, then its moved copies' (at the judged points) until the verdict
        is settled; `progress(copies compared, copies at most)` after each."""
        deletion, insertion = self.both_curves(grid_map)
        at = np.arange(0, len(self.counts), self.every)
        statistic = (Curve(self.copy_fractions, insertion[at]).auc - Curve(self.copy_fractions, deletion[at]).auc)
        moves = self.moves_for(grid_map)
        stop, done, seen = mc.stop_at(len(moves), self.alpha), [], []
        for move in moves:
            if progress:
                progress(len(done), len(moves))
            curves = self.both_curves(self.moved(grid_map, move), self.copy_counts)
            done.append(curves)
            seen.append(Curve(self.copy_fractions, curves[1]).auc - Curve(self.copy_fractions, curves[0]).auc)
            if (self.early_stop and len(seen) >= min(mc.FEWEST_COPIES, len(moves))
                    and mc.at_least_as_good(statistic, np.array(seen)) >= stop):
                break
        if progress:
            progress(len(done), len(done))
        done = np.array(done).reshape(len(done), 2, len(self.copy_counts))  # none at all on a one-patch photo
        copies = MovedCopies(self.copy_fractions, done[:, 0], done[:, 1], moves[: len(done)])
        padding = int((~self.photo).sum())
        return Faithfulness(self.protocol, self.measure, self.class_index, Curve(self.fractions, deletion),
                            Curve(self.fractions, insertion), copies,
                            self.saco(grid_map) if with_saco else None, int(self.photo.sum()), padding,
                            len(moves), self.alpha, self.every)

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
              cancelled: Callable[[], bool] | None = None, early_stop: bool = True, judge_steps: int = JUDGE_STEPS,
              progress: Callable[[int, int], None] | None = None) -> Faithfulness:
    """The whole check of one map: its curves, its moved copies' curves, SaCo."""
    return Judge(predictor, image, protocol, class_index, steps, random_orders, cancelled,
                 early_stop=early_stop, judge_steps=judge_steps).judge(grid_map, progress=progress)

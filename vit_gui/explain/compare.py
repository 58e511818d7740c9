"""Which map should I believe for this photo? Every map method the model offers, judged on
the same photo against the same random orders (faithfulness), and moved by a few pixels
(stability); the best is the most faithful of the stable ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vit_gui.explain.faithfulness import Faithfulness, Judge
from vit_gui.explain.maps import MapSpec
from vit_gui.explain.trust import Stability, map_function, stability_test


@dataclass
class MethodScore:
    spec: MapSpec
    title: str
    faithfulness: Faithfulness
    stability: Stability | None

    @property
    def strength(self) -> float:
        """How far the map beats random, in units of the random orders' spread: the mean of
        its deletion and insertion gaps."""
        random = self.faithfulness.random
        spread = max(random.spread, 1e-9)
        deletion = (random.mean - self.faithfulness.deletion.auc) / spread
        insertion = (self.faithfulness.insertion.auc - random.mean) / spread
        return float((deletion + insertion) / 2)

    def line(self) -> str:
        f = self.faithfulness
        stable = "" if self.stability is None else (
            f"; {'stable' if self.stability.stable else 'unstable'} when moved (rank correlation "
            f"{self.stability.correlation:.2f})")
        return (f"{self.title}: {f.verdict} (hiding its top patches: area {f.deletion.auc:.2f} against "
                f"{f.random.mean:.2f} ± {f.random.spread:.2f} for random; SaCo {f.saco:+.2f}){stable}")


def candidate_specs(info, class_index: int | None) -> list[tuple[str, MapSpec]]:
    """(title, spec) of every map worth comparing for this model: the rollout where the model
    advises it to start (and from block 1 if that differs), the last block, and for a
    classifier the three class maps for `class_index`."""
    arch = info.architecture
    start = info.rollout_start_block
    specs = [(f"Rollout from block {start + 1}", MapSpec("rollout", start_block=start))]
    if start:
        specs.append(("Rollout from block 1", MapSpec("rollout")))
    specs.append((f"Block {arch.depth}", MapSpec("block", block=arch.depth - 1)))
    if not arch.is_backbone and class_index is not None:
        specs += [("Class evidence", MapSpec("class", class_index=class_index)),
                  ("Grad-CAM", MapSpec("gradcam", class_index=class_index)),
                  ("LeGrad", MapSpec("legrad", class_index=class_index))]
    return specs


def compare_maps(predictor, image, protocol: str = "drop", class_index: int | None = None,
                 with_stability: bool = True, cancelled: Callable[[], bool] | None = None,
                 progress: Callable[[int, int, str], None] | None = None) -> list[MethodScore]:
    """Every candidate map judged on one photo, best first."""
    from vit_gui.explain.photo_area import photo_pixels

    judge = Judge(predictor, image, protocol, class_index, cancelled=cancelled)
    specs = candidate_specs(predictor.info, judge.class_index)
    prediction = predictor.predict([image], with_attentions=True)[0]
    scores = []
    for number, (title, spec) in enumerate(specs):
        if progress:
            progress(number, len(specs), title)
        if spec.method.needs_gradients:
            grid_map, _ = predictor.gradient_map(image, spec)
        else:
            grid_map = prediction.map(spec)
        stability = None
        if with_stability:
            map_of = map_function(spec, prediction.photo)
            stability = stability_test(predictor.model, judge.pixels, map_of, photo_pixels(prediction.geometry))
        scores.append(MethodScore(spec, title, judge.judge(grid_map), stability))
    if progress:
        progress(len(specs), len(specs), "")
    return sorted(scores, key=_rank, reverse=True)


def _rank(score: MethodScore) -> tuple[bool, int, float]:
    """Stable maps before unstable ones, then by their verdict (beating random on both tests,
    on one, on none), then by how far they beat random."""
    f = score.faithfulness
    return (score.stability is None or score.stability.stable,
            int(f.deletion_beats_random) + int(f.insertion_beats_random), score.strength)

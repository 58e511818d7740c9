"""Which map should I believe for this photo? Every map method the model offers, judged on
the same photo against its own moved copies (faithfulness), with its weights scrambled
(sanity, Adebayo et al.) and moved by a few pixels (stability).

A map that barely changes when every weight is scrambled shows the photo, not the model: it
is ranked below every map that passes, and never called best, however faithful or stable it
looks (a centre blob or an edge detector is both). Each row says why it stands where it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vit_gui.explain.faithfulness import Faithfulness, Judge
from vit_gui.explain.maps import MapSpec
from vit_gui.explain.trust import Randomisation, Stability, map_function, randomisation_test, stability_test


@dataclass
class MethodScore:
    spec: MapSpec | None  # None for a map given as a function (`extra` of compare_maps)
    title: str
    faithfulness: Faithfulness
    stability: Stability | None
    randomisation: Randomisation | None = None

    @property
    def sane(self) -> bool:
        """False only when the randomisation test ran and the map ignored the weights."""
        return self.randomisation is None or self.randomisation.depends_on_weights

    @property
    def can_be_best(self) -> bool:
        return self.sane

    @property
    def strength(self) -> float:
        """How far the map's statistic is above its moved copies', in units of their spread."""
        copies = self.faithfulness.copies.statistics
        if len(copies) < 2:
            return 0.0
        return float((self.faithfulness.statistic - copies.mean()) / max(copies.std(ddof=1), 1e-9))

    def why(self) -> str:
        """The reasons for its place, in plain words, in the order the ranking weighs them."""
        f = self.faithfulness
        reasons = []
        if self.randomisation is not None:
            reasons.append("it changes when the model's weights are scrambled" if self.sane else
                           "it barely changes when the model's weights are scrambled: it shows the photo, not the "
                           "model, so it cannot be best")
        reasons.append(f"{f.verdict}: {f.standing}")
        if self.stability is not None:
            reasons.append("it stays put when the photo moves a few pixels" if self.stability.stable else
                           "it moves about when the photo moves a few pixels")
        return "; ".join(reasons)

    def figures(self) -> str:
        """The same reasons as figures, with the terms the help explains (for the tooltip)."""
        f = self.faithfulness
        parts = []
        if self.randomisation is not None:
            parts.append(f"rank correlation with the scrambled model's map {self.randomisation.final:.2f}")
        parts.append(f"p = {f.p_value:.2f} ({f.beaten} of {f.compared} copies beaten)")
        if self.stability is not None:
            parts.append(f"rank correlation when moved {self.stability.correlation:.2f}")
        if f.saco is not None:
            parts.append(f"SaCo {f.saco:+.2f}")
        return "; ".join(parts)

    def line(self) -> str:
        return f"{self.title}: {self.why()}. Figures: {self.figures()}"


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
                 report: Callable[[str, int], None] | None = None, with_randomisation: bool = True,
                 extra: list[tuple[str, Callable]] | None = None) -> list[MethodScore]:
    """Every candidate map judged on one photo, best first. `extra`: more maps as (title,
    `map_of(model, pixels)`), judged the same way (a baseline, or a method of your own).
    `report(sentence, per mille done)`: how far it has gone and the time left."""
    from vit_gui.explain.check_progress import CheckProgress
    from vit_gui.explain.photo_area import photo_pixels

    judge = Judge(predictor, image, protocol, class_index, cancelled=cancelled)
    prediction = predictor.predict([image], with_attentions=True)[0]
    candidates = [(title, spec, map_function(spec, prediction.photo))
                  for title, spec in candidate_specs(predictor.info, judge.class_index)]
    candidates += [(title, None, map_of) for title, map_of in extra or []]
    model = predictor.gradient_model
    progress = CheckProgress(len(candidates), report or (lambda _words, _done: None), len(judge.moves),
                             with_stability or with_randomisation)
    scores = []
    for number, (title, spec, map_of) in enumerate(candidates):
        progress.start_map(number, title)
        if spec is None:
            grid_map = map_of(model, judge.pixels)
        elif spec.method.needs_gradients:
            grid_map, _ = predictor.gradient_map(image, spec)
        else:
            grid_map = prediction.map(spec)
        faithfulness = judge.judge(grid_map, progress=progress.copies_done)
        progress.copies_finished(faithfulness.compared)
        stability = randomisation = None
        if with_stability:
            stability = stability_test(model, judge.pixels, map_of, photo_pixels(prediction.geometry),
                                       cancelled=cancelled)
        if with_randomisation:
            randomisation = randomisation_test(model, judge.pixels, map_of, prediction.photo, cancelled=cancelled)
        scores.append(MethodScore(spec, title, faithfulness, stability, randomisation))
    progress.finished()
    return sorted(scores, key=rank, reverse=True)


def rank(score: MethodScore) -> tuple[bool, bool, bool, float, float]:
    """Maps that depend on the weights before those that do not; then faithful before not
    shown to be; then stable before unstable; then the lower p-value, then the larger margin
    over the moved copies."""
    f = score.faithfulness
    return (score.sane, f.faithful, score.stability is None or score.stability.stable, -f.p_value, score.strength)


def best(scores: list[MethodScore]) -> MethodScore | None:
    """The first map that may be called best (none when every map ignores the weights)."""
    return next((s for s in scores if s.can_be_best), None)

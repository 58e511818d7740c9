"""A check in words and in a picture a non-programmer can act on; the technical terms go in
the tooltips and the help (Qt-free: the check window shows what this writes and draws)."""

from __future__ import annotations

from dataclasses import dataclass

from vit_gui.explain.removal import PROTOCOL_NAMES
from vit_gui.figures import plain


@dataclass
class CheckResult:
    """What the worker hands over for one map: its check, its two tests and the picture."""

    spec: object  # MapSpec
    faithfulness: object
    randomisation: object | None
    stability: object | None
    plot_png: bytes
    label: str = ""


#: what each way of hiding patches is called on screen (the technical name in PROTOCOL_NAMES)
PROTOCOL_WORDS = {"drop": "leaving them out", "mean": "painting them grey", "blackout": "painting them black"}


def followed(result, label: str = "") -> str:
    if result.measure == "cosine":
        return "how much the photo still looks like itself to the model"
    what = f"“{label}”" if label else "its answer"
    return f"the model's confidence in {what} (as log-odds, which do not flatten out near 100%)"


def noise_rate() -> str:
    """What this test does with maps made of noise, as measured (no more is claimed)."""
    from vit_gui.explain.faithfulness import FALSE_ALARMS

    rates = [f"{round(100 * hits / n)} in 100 {kind}" for kind, (hits, n) in FALSE_ALARMS.items()]
    return (f"Measured on maps made of noise, this test called faithful {', '.join(rates[:-1])} and {rates[-1]}: "
            "evidence, not proof.")


def faithfulness_sentence(result, label: str = "") -> str:
    """One sentence: does hiding what the map calls important matter more than hiding the
    same map moved elsewhere on the photo? It claims only the map's standing among its copies."""
    what = followed(result, label)
    if result.faithful:
        return (f"The map points at what the model used: hiding its brightest parts first and its darkest parts "
                f"last changes {what} more than the same map moved elsewhere on the photo does — "
                f"{result.standing}. {noise_rate()}")
    return (f"Careful: this map is not shown to be faithful — hiding parts in its order changes {what} no more than "
            f"the same map moved elsewhere on the photo does ({result.standing}), so it may not show what the "
            "model used.")


def saco_sentence(result) -> str:
    if result.saco is None:
        return ""
    return (f"Hiding one tenth of the photo at a time, in the map's order: its ranking of the parts is "
            f"{saco_words(result.saco)} (SaCo {result.saco:+.2f}, from −1 to +1).")


#: SaCo within this of 0 is called chance: with ten groups of like salience SaCo is Kendall's
#: tau, whose standard deviation over random orderings is sqrt(2(2n+5) / (9n(n-1))) = 0.25
SACO_CHANCE = 0.2


def saco_words(value: float) -> str:
    if value > 0.5:
        return "mostly right"
    if value > SACO_CHANCE:
        return "partly right"
    if value >= -SACO_CHANCE:
        return "about as good as chance"
    return "reversed: the parts it ranks lower matter more"


def draw_check(figure, result, label: str = "") -> None:
    """The two curves and the range of the moved copies' curves, the protocol and score named."""
    axes = figure.subplots()
    percent = result.deletion.fractions * 100
    copies = result.copies
    for band, colour, what in ((copies.deletion, "#f2c4bd", "brightest"), (copies.insertion, "#c3d7e8", "darkest")):
        axes.fill_between(copies.fractions * 100, band.min(axis=0), band.max(axis=0), color=colour, alpha=0.6,
                          label=f"the map moved elsewhere ({len(band)} {'copy' if len(band) == 1 else 'copies'}), "
                                f"{what} first: range")
    axes.plot(percent, result.deletion.scores, "o-", color="#c0392b",
              label=f"brightest hidden first ({result.deletion.auc:.2f})")
    axes.plot(percent, result.insertion.scores, "s-", color="#2471a3",
              label=f"darkest hidden first ({result.insertion.auc:.2f})")
    axes.set_xlabel(f"% of the photo hidden, by {PROTOCOL_WORDS[result.protocol]} ({PROTOCOL_NAMES[result.protocol]})")
    axes.set_ylabel(plain("likeness to the photo (cosine)" if result.measure == "cosine" else
                          f"confidence in “{label}” (log-odds)" if label else "confidence (log-odds)"))
    low = min(float(copies.deletion.min()), float(result.deletion.scores.min()))
    high = max(float(copies.insertion.max()), float(result.insertion.scores.max()))
    axes.set_ylim(low - 0.05 * (high - low + 1e-9), high + 0.05 * (high - low + 1e-9))
    axes.legend(fontsize=7, loc="lower left")

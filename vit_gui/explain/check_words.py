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
    return f"the model's confidence in “{label}”" if label else "the model's confidence in its answer"


def faithfulness_sentence(result, label: str = "") -> str:
    """One sentence: does hiding what the map calls important matter more than hiding at random?"""
    what = followed(result, label)
    figures = (f"(area {result.deletion.auc:.2f} against {result.random.mean:.2f} ± {result.random.spread:.2f} "
               f"for {len(result.random.curves)} random orders)")
    if result.verdict == "faithful":
        return (f"The map points at what the model used: hiding its brightest parts first lowers {what} much faster "
                f"than hiding random parts {figures}, and hiding its darkest parts first changes little.")
    if result.deletion_beats_random:
        return (f"The map's brightest parts matter more than random ones {figures}, but its darkest parts matter "
                "more than it says: believe its bright spots, not its dark ones.")
    if result.insertion_beats_random:
        return (f"The map's darkest parts really do not matter, but its brightest parts are no more important than "
                f"random ones {figures}: do not read much into its bright spots.")
    return (f"Careful: hiding the map's brightest parts lowers {what} no faster than hiding random parts {figures}, "
            "so this map may not show what the model used.")


def saco_sentence(result) -> str:
    if result.saco is None:
        return ""
    if result.saco > 0.5:
        words = "its ranking of the parts is mostly right"
    elif result.saco > 0:
        words = "its ranking of the parts is only partly right"
    else:
        words = "its ranking of the parts is no better than chance"
    return (f"Hiding one tenth of the photo at a time, in the map's order: {words} (SaCo {result.saco:+.2f}, "
            "from −1 to +1).")


def draw_check(figure, result, label: str = "") -> None:
    """The two curves, the random orders' mean and their range, the protocol named."""
    axes = figure.subplots()
    percent = result.deletion.fractions * 100
    band = result.random.curves
    axes.fill_between(percent, band.min(axis=0), band.max(axis=0), color="0.85",
                      label=f"{len(band)} random orders (range)")
    axes.plot(percent, result.random.mean_curve.scores, "--", color="gray",
              label=f"random, mean ({result.random.mean:.2f} ± {result.random.spread:.2f})")
    axes.plot(percent, result.deletion.scores, "o-", color="#c0392b",
              label=f"brightest hidden first ({result.deletion.auc:.2f})")
    axes.plot(percent, result.insertion.scores, "s-", color="#2471a3",
              label=f"darkest hidden first ({result.insertion.auc:.2f})")
    axes.set_xlabel(f"% of the photo hidden, by {PROTOCOL_WORDS[result.protocol]} ({PROTOCOL_NAMES[result.protocol]})")
    axes.set_ylabel(plain("likeness to the photo" if result.measure == "cosine" else
                          f"confidence in “{label}”" if label else "confidence"))
    axes.set_ylim(min(0.0, float(band.min()), float(result.deletion.scores.min())), 1.02)
    axes.legend(fontsize=7, loc="lower left")

"""The Teach report's pictures, drawn off the GUI thread (vit_gui.figures): the settings
tried (or the fine-tuning epochs) and the confusion matrix, readable from 2 to 2,000
classes: counts in the cells and names on the axes only while they fit."""

from __future__ import annotations

import numpy as np

from vit_gui.figures import figure_png, plain

MAX_COUNTED = 20  # classes up to which each cell shows its count
MAX_NAMED = 40  # classes up to which the axes name them


def trials_png(trials: list[dict]) -> bytes:
    return figure_png(lambda figure: draw_trials(figure, trials), size=(3.4, 2.4))


def confusion_png(report) -> bytes:
    return figure_png(lambda figure: draw_confusion(figure, report), size=(3.4, 2.7))


def draw_trials(figure, trials: list[dict]) -> None:
    axes = figure.subplots()
    epochs = [r for r in trials if "epoch" in r]
    if epochs:  # fine-tuning: loss and checking accuracy per epoch
        axes.plot([r["epoch"] for r in epochs], [r["train_loss"] for r in epochs], "o-", label="training loss")
        if any(r["val_accuracy"] is not None for r in epochs):
            axes.plot([r["epoch"] for r in epochs], [r["val_accuracy"] for r in epochs], "s-",
                      label="checking accuracy")
        axes.set_xlabel("epoch")
        axes.set_title("Fine-tuning the last blocks")
        axes.legend(loc="best")
        return
    rows = sorted((r for r in trials if "weight_decay" in r), key=lambda r: r["weight_decay"])
    places = range(1, len(rows) + 1)  # evenly spaced, each setting's weight decay written plainly under it
    for key, label, style in (("train_accuracy", "training photos", "o-"), ("val_accuracy", "checking photos", "s-")):
        axes.plot(places, [r[key] for r in rows], style, label=label)
    axes.set_xticks(places, [f"{r['weight_decay']:g}" for r in rows], fontsize=7)
    axes.set_xlim(0.5, max(len(rows), 1) + 0.5)
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("weight decay: the further right,\nthe simpler the classifier", fontsize=8)
    axes.set_ylabel("accuracy")
    axes.set_title("Each setting tried")
    axes.legend(loc="lower left")


def draw_confusion(figure, report) -> None:
    """Counts per cell up to MAX_COUNTED classes, names up to MAX_NAMED; past that the
    matrix is a picture of where the mistakes are, and the report lists the worst pairs."""
    axes = figure.subplots()
    confusion = report.confusion
    count = len(report.classes)
    axes.imshow(confusion, cmap="Blues", interpolation="nearest")
    if count <= MAX_NAMED:
        names = [plain(name) for name in report.classes]
        ticks = range(count)
        axes.set_xticks(ticks, names, rotation=45, ha="right", fontsize=8 if count <= MAX_COUNTED else 5)
        axes.set_yticks(ticks, names, fontsize=8 if count <= MAX_COUNTED else 5)
        axes.set_xlabel("seen as")
        axes.set_ylabel("really is")
    else:
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_xlabel(f"seen as (all {count} classes, in order)")
        axes.set_ylabel("really is")
    axes.set_title("Photos kept aside")
    if count <= MAX_COUNTED:
        top = confusion.max() or 1
        for (row, column), cell in np.ndenumerate(confusion):
            axes.text(column, row, str(cell), ha="center", va="center", fontsize=8,
                      color="white" if cell > top / 2 else "black")

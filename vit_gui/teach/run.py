"""Teaching from start to finish, for the CLI and the Teach window alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vit_gui.teach.data import Dataset, TeachDataError, read_class_folders, split
from vit_gui.teach.features import extract, model_digest
from vit_gui.teach.overlap import repeat_notes, repeats
from vit_gui.teach.probe import Probe, train_probe
from vit_gui.teach.report import Report, evaluate


@dataclass
class Taught:
    dataset: Dataset
    train: list[tuple[Path, int]]
    val: list[tuple[Path, int]]
    probe: Probe
    report: Report
    digest: str  # the base model's SHA-256
    facts: dict  # settings and figures recorded in the saved model's sidecar
    tuned_state: dict | None = None  # fine-tuned weights (our names), or None for the probe alone
    notes: list[str] = field(default_factory=list)  # what the user must hear about validation, in words

    def worst_items(self) -> list[dict]:
        classes = self.dataset.classes
        return [{"path": str(self.val[i][0]), "true": classes[t], "predicted": classes[p], "true_probability": round(q, 4)}
                for i, t, p, q in self.report.worst]


def teach(folders: list[Path], predictor, base_path: Path, val_split: float = 0.2, seed: int = 0,
          progress: Callable[[str, int, int], None] | None = None,
          cancelled: Callable[[], bool] | None = None, val_folders: list[Path] | None = None,
          on_trial: Callable[[dict], None] | None = None, mode: str = "probe", blocks: int = 2,
          epochs: int = 5, feature: str = "cls") -> Taught:
    """Read the class folders, extract (cached) features, train the probe, evaluate it.
    Validation is a seeded stratified split, or `val_folders` (the same class names).
    `progress(stage, done, total)` reports reading images; the probe itself takes seconds, and
    `on_trial` hears each weight decay's figures as it is tried (the window's live plot).
    `mode="finetune"` then trains the last `blocks` blocks for `epochs`, starting from the probe."""
    from vit_gui.model.checkpoints import model_weights

    dataset = read_class_folders(folders)
    if val_folders:
        held_out = read_class_folders(val_folders)
        unknown = sorted(set(held_out.classes) - set(dataset.classes))
        if unknown:
            raise TeachDataError(f"the validation folder has classes the training data lacks: {', '.join(unknown)}")
        train = dataset.items
        val = [(path, dataset.classes.index(held_out.classes[label])) for path, label in held_out.items]
        dataset.skipped += held_out.skipped
    else:
        train, val = split(dataset.items, val_split, seed)
    found = repeats(train, val)  # before reading: a repeat's features are never needed
    counts, planned = dataset.counts(), {label for _, label in val}
    kept_val = [item for i, item in enumerate(val) if i not in found]
    digest = model_digest(model_weights(Path(base_path)))
    items = train + kept_val
    features, failed, cached = extract(predictor, [p for p, _ in items], digest,
                                       (lambda d, t: progress("reading images", d, t)) if progress else None, cancelled,
                                       feature=feature)
    found, gone = _unreadable(dataset, items, failed, val, found)
    keep = [i for i in range(len(items)) if i not in failed]
    train_rows = [i for i in keep if i < len(train)]
    val_rows = [i for i in keep if i >= len(train)]
    labels = np.array([label for _, label in items])
    if len({labels[i] for i in train_rows}) < 2:
        raise TeachDataError("after leaving out unreadable images, fewer than two classes have training images")
    if progress:
        progress("training", 0, 1)
    probe = train_probe(features[train_rows], labels[train_rows], features[val_rows], labels[val_rows],
                        len(dataset.classes), progress=on_trial)
    if progress:
        progress("training", 1, 1)
    val_logits, tuned_state, tuning = probe.logits(features[val_rows]), None, {}
    if mode == "finetune":
        from vit_gui.teach.finetune import build_classifier, finetune

        model = build_classifier(Path(base_path), predictor.info, probe)
        history = finetune(model, predictor.info.preprocessing, [items[i] for i in train_rows],
                           [items[i] for i in val_rows], blocks, epochs,
                           device=str(predictor.device), progress=progress, cancelled=cancelled, on_epoch=on_trial)
        val_logits = _logits(model, predictor, [items[i][0] for i in val_rows])
        tuned_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        probe_report = evaluate(dataset.classes, labels[val_rows], probe.logits(features[val_rows]), val_rows)
        tuning = {"blocks_tuned": blocks, "epochs": epochs, "epochs_history": history,
                  "probe_validation_accuracy": probe_report.to_json(matrix=False)["validation_accuracy"]}
    report = evaluate(dataset.classes, labels[val_rows], val_logits, [i - len(train) for i in val_rows])
    left = {label for _, label in (items[i] for i in val_rows)}
    validation, empty = _validation_words(dataset.classes, counts, bool(val_folders), val_split, len(val_rows),
                                          sorted(planned - left))
    advice = ("give a validation folder of other photos, or none, to keep a share of each class aside" if val_folders
              else "remove the copies from the class folders, or give a validation folder of other photos")
    readable = len(val) - sum(1 for i in failed if i >= len(train)) - gone  # repeats of unreadable ones: gone
    emptied_by_repeats = bool(found) and not val_rows  # the repeats' note says so: one note, not two
    notes = repeat_notes(val, found, dataset.classes, readable, advice if emptied_by_repeats else None)
    notes += [empty] if empty and not emptied_by_repeats else []
    facts = {"mode": mode, "feature": feature, "weight_decay": probe.weight_decay, **tuning,
             "validation": validation, "seed": seed, "train_images": len(train_rows), "val_images": len(val_rows),
             "validation_accuracy": report.to_json(matrix=False)["validation_accuracy"], "cached_features": cached}
    return Taught(dataset, train, kept_val, probe, report, digest, facts, tuned_state, notes)


def _unreadable(dataset: Dataset, items: list, failed: dict[int, str], val: list, found: dict) -> tuple[dict, int]:
    """Photos that could not be read are left out with their reason and not counted; a repeat
    of one has its bytes, so it is unreadable too and said so, not called a repeat (an empty
    file was "a training photo" while its twin was "left out: the file is empty").
    Returns (the repeats of readable photos, how many repeats were of unreadable ones)."""
    why = {items[i][0]: reason for i, reason in failed.items()}
    copies = {i: r for i, r in found.items() if r.twin in why}
    dataset.skipped += [(items[i][0], reason) for i, reason in sorted(failed.items())]
    dataset.skipped += [(val[i][0], why[r.twin]) for i, r in sorted(copies.items()) if val[i][0] != r.twin]
    gone = set(why) | {val[i][0] for i in copies}
    dataset.items = [item for item in dataset.items if item[0] not in gone]
    return {i: r for i, r in found.items() if i not in copies}, len(copies)


def _validation_words(classes: list[str], counts: dict[str, int], folder: bool, share: float, held: int,
                      emptied: list[int]) -> tuple[str, str | None]:
    """(how the classifier was checked, as the report and the sidecar say it; a note when it
    was not checked at all). "20% of each class" with no photo held out misled: a class of
    one photo keeps it to learn from; and a class whose held-out photos were all repeats or
    unreadable (`emptied`) was not checked, which the share alone does not say."""
    singles = sum(1 for n in counts.values() if n == 1)
    if held:
        words = f"separate folder ({held} photos)" if folder else f"{share:.0%} of each class ({held} photos)"
        if singles and not folder:
            words += f"; {singles} of the {len(classes)} classes have one photo: none held out from them"
        if emptied:
            names = ", ".join(classes[c] for c in emptied[:5]) + (f" and {len(emptied) - 5} more" if len(emptied) > 5
                                                                  else "")
            words += (f"; no validation photo left for {names} (what was held out repeats training photos or could "
                      "not be read)")
        return words, None
    if folder:
        words, why = "separate folder (no photos left)", "the validation folder has no photos left to check on"
    elif singles == len(classes):
        words = "no photos held out: each class has one photo"
        why = "each class has only one photo, which it needs to learn from"
    else:
        words, why = "no photos held out", "those held out were unreadable, or repeats of training photos"
    return words, (f"no photos were kept aside to check the classifier ({why}): how well it does on new "
                   "photos is unknown")


def _logits(model, predictor, paths: list[Path]) -> np.ndarray:
    """The tuned model's logits for the validation images (plain preprocessing)."""
    import torch

    from vit_gui.images import load_image
    from vit_gui.preprocess import preprocess

    rows = []
    with torch.no_grad():
        for path in paths:
            pixels, _ = preprocess(load_image(path).image, predictor.info.preprocessing)
            rows.append(model(pixels[None].to(predictor.device)).logits[0].float().cpu().numpy())
    return np.stack(rows) if rows else np.zeros((0, model.num_classes), np.float32)

"""Teaching from start to finish, for the CLI and the Teach window alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vit_gui.teach.data import Dataset, TeachDataError, read_class_folders, split
from vit_gui.teach.features import extract, model_digest
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

    def worst_items(self) -> list[dict]:
        classes = self.dataset.classes
        return [{"path": str(self.val[i][0]), "true": classes[t], "predicted": classes[p], "true_probability": round(q, 4)}
                for i, t, p, q in self.report.worst]


def teach(folders: list[Path], predictor, base_path: Path, val_split: float = 0.2, seed: int = 0,
          progress: Callable[[str, int, int], None] | None = None,
          cancelled: Callable[[], bool] | None = None, val_folders: list[Path] | None = None,
          on_trial: Callable[[dict], None] | None = None) -> Taught:
    """Read the class folders, extract (cached) features, train the probe, evaluate it.
    Validation is a seeded stratified split, or `val_folders` (the same class names).
    `progress(stage, done, total)` reports reading images; the probe itself takes seconds, and
    `on_trial` hears each weight decay's figures as it is tried (the window's live plot)."""
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
    digest = model_digest(model_weights(Path(base_path)))
    items = train + val
    features, failed, cached = extract(predictor, [p for p, _ in items], digest,
                                       (lambda d, t: progress("reading images", d, t)) if progress else None, cancelled)
    dataset.skipped += [(items[i][0], why) for i, why in sorted(failed.items())]
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
    report = evaluate(dataset.classes, labels[val_rows], probe.logits(features[val_rows]),
                      [i - len(train) for i in val_rows])
    facts = {"mode": "probe", "feature": "class token", "weight_decay": probe.weight_decay,
             "validation": "separate folder" if val_folders else f"{val_split:.0%} of each class",
             "seed": seed, "train_images": len(train_rows), "val_images": len(val_rows),
             "validation_accuracy": report.to_json()["validation_accuracy"], "cached_features": cached}
    return Taught(dataset, train, val, probe, report, digest, facts)

"""A linear probe: softmax regression on frozen features, trained full-batch.

Features are standardised with the training split's mean and spread; the weight decay is
chosen on the validation split from a small grid (the best accuracy, then the lowest
loss); the result is folded back into one Linear layer on the raw features, so the saved
model is an ordinary ViT whose head reads the class token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
STEPS = 60  # L-BFGS iterations per weight decay: full-batch, converged well before


@dataclass
class Probe:
    weight: np.ndarray  # (classes, features), on raw (unstandardised) features
    bias: np.ndarray  # (classes,)
    weight_decay: float
    history: list[dict] = field(default_factory=list)  # per weight decay: train/val loss and accuracy

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weight.T + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.logits(features).argmax(axis=1)


def _fit(x: torch.Tensor, y: torch.Tensor, classes: int, weight_decay: float, steps: int) -> torch.nn.Linear:
    torch.manual_seed(0)
    layer = torch.nn.Linear(x.shape[1], classes, dtype=torch.float64)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    optimiser = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=steps, history_size=20,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x), y) + weight_decay * layer.weight.pow(2).sum() / 2
        loss.backward()
        return loss

    optimiser.step(closure)
    return layer


def train_probe(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, classes: int,
                weight_decays=WEIGHT_DECAYS, steps: int = STEPS,
                progress: Callable[[dict], None] | None = None) -> Probe:
    """The probe with the weight decay that does best on the validation split."""
    mean = train_x.mean(axis=0)
    spread = train_x.std(axis=0) + 1e-6
    to_tensor = lambda a: torch.from_numpy(((a - mean) / spread).astype(np.float64))  # noqa: E731
    xt, xv = to_tensor(train_x), to_tensor(val_x)
    yt, yv = torch.from_numpy(train_y.astype(np.int64)), torch.from_numpy(val_y.astype(np.int64))
    best, history = None, []
    for decay in weight_decays:
        layer = _fit(xt, yt, classes, decay, steps)
        with torch.no_grad():
            row = {"weight_decay": decay}
            for name, x, y in (("train", xt, yt), ("val", xv, yv)):
                logits = layer(x)
                row[f"{name}_loss"] = float(torch.nn.functional.cross_entropy(logits, y)) if len(y) else float("nan")
                row[f"{name}_accuracy"] = float((logits.argmax(1) == y).double().mean()) if len(y) else float("nan")
        history.append(row)
        if progress:
            progress(row)
        score = (row["val_accuracy"], -row["val_loss"]) if len(yv) else (row["train_accuracy"], -row["train_loss"])
        if best is None or score > best[0]:
            best = (score, decay, layer)
    _, decay, layer = best
    weight = layer.weight.detach().numpy() / spread  # fold the standardisation into the layer
    bias = layer.bias.detach().numpy() - weight @ mean
    return Probe(weight.astype(np.float32), bias.astype(np.float32), decay, history)

"""Fine-tuning the last blocks: the seed's freeze_backbone idea, for people with more photos
and time. The probe's head is the starting point; the last `blocks` transformer blocks, the
final norm and the head are trained with light augmentation (a random resized crop and a
horizontal flip), everything else stays frozen.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vit_gui.teach.features import TeachCancelled

Progress = Callable[[str, int, int], None]


def augmented(image, rng: random.Random):
    """A random resized crop (60-100% of the area, aspect 3:4 to 4:3) and a coin-flip mirror."""
    from PIL import Image

    width, height = image.size
    for _ in range(10):
        area = width * height * rng.uniform(0.6, 1.0)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        w, h = round((area * aspect) ** 0.5), round((area / aspect) ** 0.5)
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            image = image.crop((left, top, left + w, top + h))
            break
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


def build_classifier(base_path: Path, base_info, probe):
    """The base ViT with the probe's head, as a trainable model."""
    from vit_gui.model import checkpoints
    from vit_gui.teach.save import probe_classifier_state

    base = base_info.architecture
    head_input = "cls+mean" if probe.weight.shape[1] == 2 * base.embed_dim else "cls"
    arch = replace(base, num_classes=probe.weight.shape[0], dist_head=False, head_input=head_input)
    return checkpoints.build_model(probe_classifier_state(base_path, base_info, probe), arch)


def finetune(model, preprocessing, train: list[tuple[Path, int]], val: list[tuple[Path, int]], blocks: int = 2,
             epochs: int = 5, batch_size: int = 16, seed: int = 0, device: str = "cpu",
             progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
             on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Train the last `blocks` blocks, the final norm and the head in place; returns each
    epoch's training loss and validation accuracy."""
    from vit_gui.errors import VitGuiError
    from vit_gui.images import load_image
    from vit_gui.preprocess import preprocess

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model.to(device).requires_grad_(False)
    trained = [*model.blocks[-blocks:], model.norm, model.head] if blocks else [model.norm, model.head]
    for module in trained:
        module.requires_grad_(True)
    optimiser = torch.optim.AdamW([p for m in trained for p in m.parameters()], lr=5e-5, weight_decay=0.05)
    history = []

    def batches(items, augment):
        order = list(items)
        if augment:
            rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            pixels, labels = [], []
            for path, label in order[start : start + batch_size]:
                try:
                    image = load_image(path).image
                except VitGuiError:
                    continue  # listed when the features were read
                pixels.append(preprocess(augmented(image, rng) if augment else image, preprocessing)[0])
                labels.append(label)
            if pixels:
                yield torch.stack(pixels).to(device), torch.tensor(labels, device=device)

    steps = epochs * ((len(train) + batch_size - 1) // batch_size)
    done = 0
    for epoch in range(epochs):
        model.train()
        losses = []
        for pixels, labels in batches(train, augment=True):
            if cancelled and cancelled():
                raise TeachCancelled("fine-tuning cancelled; nothing was saved")
            loss = torch.nn.functional.cross_entropy(model(pixels).logits, labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
            done += 1
            if progress:
                progress("fine-tuning", done, steps)
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for pixels, labels in batches(val, augment=False):
                correct += int((model(pixels).logits.argmax(1) == labels).sum())
                total += len(labels)
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None,
               "val_accuracy": correct / total if total else None}
        history.append(row)
        if on_epoch:
            on_epoch(row)
    model.eval().requires_grad_(False)
    return history

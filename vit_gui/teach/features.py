"""Features of each image, extracted once and cached per file.

The feature is the backbone's final-norm class token (what a linear head reads), or that
beside the mean of the final-norm patch tokens ("cls+mean", DINOv2's linear evaluation). A file's
cache key is its path, size and modification time plus the model's SHA-256, so training
again with other settings, or after adding a few photos, reads only what is new. The cache
is one .npz per model (no pickle) in the user's cache folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vit_gui.errors import VitGuiError
from vit_gui.resources import user_data_dir

Progress = Callable[[int, int], None]  # (done, total)


def model_digest(path: Path) -> str:
    from vit_gui.model.download import sha256_of

    return sha256_of(path)


def cache_path(digest: str) -> Path:
    import hashlib

    return user_data_dir() / "cache" / "features" / f"{hashlib.sha256(digest.encode()).hexdigest()[:32]}.npz"


def file_key(path: Path) -> str:
    stat = os.stat(path)
    return f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"


class FeatureCache:
    def __init__(self, digest: str):
        self.path = cache_path(digest)
        self.vectors: dict[str, np.ndarray] = {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"]))
        except (OSError, KeyError, ValueError):
            pass  # no cache yet, or a damaged one: it is rebuilt
        self.dirty = False

    def get(self, key: str) -> np.ndarray | None:
        return self.vectors.get(key)

    def put(self, key: str, vector: np.ndarray) -> None:
        self.vectors[key] = vector
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or not self.vectors:
            return
        import io

        from vit_gui.fileio import atomic_write_bytes

        keys = list(self.vectors)
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]).astype(np.float32))
        atomic_write_bytes(self.path, buffer.getvalue())
        self.dirty = False


FEATURES = ("cls", "cls+mean")


def extract(predictor, paths: list[Path], digest: str, progress: Progress | None = None,
            cancelled: Callable[[], bool] | None = None, batch_size: int = 8, feature: str = "cls"):
    """(features (N, D) float32 with NaN rows for failures, {index: why it failed}, cached count)."""
    from vit_gui.images import load_image

    if feature not in FEATURES:
        raise ValueError(f"the feature must be one of {', '.join(FEATURES)}, got {feature!r}")
    cache = FeatureCache(digest if feature == "cls" else f"{digest}-{feature}")
    features: list[np.ndarray | None] = [None] * len(paths)
    failed: dict[int, str] = {}
    todo = []
    for i, path in enumerate(paths):
        try:
            key = file_key(path)
        except OSError as exc:
            failed[i] = f"cannot read this file ({exc.strerror or exc})"
            continue
        vector = cache.get(key)
        if vector is not None:
            features[i] = vector
        else:
            todo.append((i, key))
    cached = len(paths) - len(todo) - len(failed)
    done = cached + len(failed)
    if progress:
        progress(done, len(paths))
    try:
        for start in range(0, len(todo), batch_size):
            if cancelled and cancelled():
                raise TeachCancelled("cancelled while reading the images; what was read is kept for next time")
            batch, images = [], []
            for i, key in todo[start : start + batch_size]:
                try:
                    images.append(load_image(paths[i]).image)
                    batch.append((i, key))
                except VitGuiError as exc:
                    failed[i] = str(exc)
            for (i, key), prediction in zip(batch, _predict_each_if_needed(predictor, images)):
                if isinstance(prediction, str):
                    failed[i] = prediction
                else:
                    vector = prediction.features
                    if feature == "cls+mean":
                        vector = np.concatenate([vector, prediction.patch_mean])
                    features[i] = vector.astype(np.float32)
                    cache.put(key, features[i])
            done += len(todo[start : start + batch_size])
            if progress:
                progress(done, len(paths))
    finally:
        cache.save()
    width = next((f.shape[0] for f in features if f is not None), 0)
    matrix = np.full((len(paths), width), np.nan, np.float32)
    for i, vector in enumerate(features):
        if vector is not None:
            matrix[i] = vector
    return matrix, failed, cached


def _predict_each_if_needed(predictor, images: list) -> list:
    """Predictions for a batch; if the model fails on it (one photo's numbers overflow),
    each photo alone, a failure being its message: one bad photo is left out, not the batch."""
    if not images:
        return []
    try:
        return predictor.predict(images, top_k=1)
    except VitGuiError as exc:
        if len(images) == 1:
            return [str(exc)]
    return [_predict_each_if_needed(predictor, [image])[0] for image in images]


class TeachCancelled(VitGuiError):
    """The user stopped teaching; nothing is saved, extracted features stay cached."""

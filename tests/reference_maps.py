"""Independent re-derivations of the maps in plain numpy, written from the papers."""

import numpy as np


def np_normalise(v):
    v = np.asarray(v, np.float64)
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def np_fuse(block, fusion):
    return {"mean": np.mean, "max": np.max, "min": np.min}[fusion](block, axis=0)


def np_rollout(attn, fusion, discard, grid, prefix=1, start=0):
    """Full-matrix rollout over blocks start.. (0-based); the map is row 0 over the patches,
    which follow `prefix` tokens."""
    tokens = attn.shape[-1]
    result = np.eye(tokens)
    for block in attn[start:]:
        a = np_fuse(block, fusion).copy()
        if discard > 0:
            flat = a.reshape(-1)
            order = [i for i in np.argsort(flat, kind="stable") if i != 0]  # never CLS->CLS
            flat[order[: int(flat.size * discard)]] = 0.0
        a = a + np.eye(tokens)
        a = a / a.sum(axis=1, keepdims=True)
        result = a @ result
    return np_normalise(result[0, prefix:].reshape(grid))


def np_chefer(attn, grads, grid, prefix=1):
    tokens = attn.shape[-1]
    r = np.eye(tokens)
    for a, g in zip(attn, grads):
        r = r + np.maximum(g * a, 0).mean(axis=0) @ r
    return np_normalise(r[0, prefix:].reshape(grid))

"""Big output arrays whose memory is reused from one batch to the next (issue #32).

Why: a batch's attentions are 150 MB (ViT-S, 8 photos, float32). Fresh from the system,
every page of them is faulted in and zeroed by the kernel as the model writes it, and on a
busy virtual machine that cost swings from 2 to 20 ms a photo (benchmarks/results/peers.md).
An array whose pages were written before costs none of that. So the arrays handed out
here come back when the last view of them dies (a finaliser, not a guess), and the next
batch writes into the same pages. At most `max_idle` arrays, `max_idle_bytes` in all, wait
unused; the rest go back to the system as before.

Memory is only ever reused when nothing can still read it: every numpy view of an array
handed out keeps its base alive (a `_Block`, whose finaliser gives the memory back), and a
torch tensor made from one by `torch.from_numpy` keeps the array alive as well.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import torch

MAX_IDLE = 2  # streaming: the batch before is still being read while this one is written
MAX_IDLE_BYTES = 512 * 2**20
MIN_POOLED_BYTES = 2**20  # smaller arrays cost next to nothing fresh, and would take an idle place


class _Block:
    """Pooled memory as numpy sees it: the array handed out, and every view of it, has this
    as its base (numpy collapses bases only as far as the first non-ndarray), and it offers
    no buffer of its own to read the memory through while letting it go."""

    __slots__ = ("raw", "__array_interface__", "__weakref__")

    def __init__(self, raw: np.ndarray, shape: tuple[int, ...], dtype: np.dtype):
        self.raw = raw
        self.__array_interface__ = {"data": (raw.ctypes.data, False), "shape": shape, "typestr": dtype.str,
                                    "version": 3}


class BufferPool:
    """Hands out uninitialised arrays, reusing the memory of arrays nobody holds any more."""

    def __init__(self, max_idle: int = MAX_IDLE, max_idle_bytes: int = MAX_IDLE_BYTES):
        self.max_idle, self.max_idle_bytes = max_idle, max_idle_bytes
        self._idle: list[np.ndarray] = []  # raw uint8 memory, most recently returned last
        self._lock = threading.Lock()
        self.reused = 0  # how many arrays came from returned memory (for tests and benchmarks)

    def empty(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised C-contiguous array, like np.empty; from returned memory of exactly
        its size if there is some (a batch's shape repeats from one batch to the next, and a
        small request never pins, unseen, a bigger block)."""
        dtype, shape = np.dtype(dtype), tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimensions are not allowed: {shape}")
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size < MIN_POOLED_BYTES:  # not worth a place among the idle blocks
            return np.empty(shape, dtype)
        raw = self._take(size)
        if raw is None:
            raw = np.empty(size, np.uint8)
        block = _Block(raw, shape, dtype)
        weakref.finalize(block, self._give_back, raw).atexit = False
        return np.asarray(block)

    def _take(self, size: int) -> np.ndarray | None:
        with self._lock:
            for index, raw in enumerate(self._idle):
                if raw.nbytes == size:
                    self.reused += 1
                    return self._idle.pop(index)
            return None

    def _give_back(self, raw: np.ndarray) -> None:
        """A finaliser: it may run in any thread, or inside this pool's own code when the
        garbage collector runs there, so it never waits for the lock; when the lock is busy
        the memory simply goes back to the system."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._idle.append(raw)
            while len(self._idle) > self.max_idle or sum(block.nbytes for block in self._idle) > self.max_idle_bytes:
                self._idle.pop(0)  # the oldest first
        finally:
            self._lock.release()

    def idle_bytes(self) -> int:
        return sum(self._idle_sizes())

    def _idle_sizes(self) -> list[int]:
        with self._lock:
            return [block.nbytes for block in self._idle]

    def clear(self) -> None:
        """Give every idle block back to the system (the window after a run, tests)."""
        with self._lock:
            self._idle.clear()


#: the process's pool for attentions (the OpenVINO engine's outputs, the Predictor's float32 copies)
ATTENTIONS = BufferPool()


_SAME_BITS = {torch.float32: np.float32, torch.float16: np.float16, torch.bfloat16: np.float16}


def pooled_tensor(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """torch.empty(shape, dtype) on the CPU from ATTENTIONS (bfloat16 held in float16's bits:
    numpy has no bfloat16); other dtypes are not pooled."""
    if dtype not in _SAME_BITS:
        return torch.empty(shape, dtype=dtype)
    return torch.from_numpy(ATTENTIONS.empty(tuple(shape), _SAME_BITS[dtype])).view(dtype)


def as_float32(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` on the CPU in float32; a copy, when one is needed, made into pooled memory."""
    if tensor.dtype == torch.float32 and tensor.device.type == "cpu":
        return tensor
    copy = pooled_tensor(tuple(tensor.shape), torch.float32)
    copy.copy_(tensor)
    return copy

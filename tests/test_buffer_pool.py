"""Pooled attention memory (model/buffer_pool.py): reused only once nothing can read it, and
never more of it kept idle than allowed."""

import gc

import numpy as np
import pytest
import torch
from PIL import Image

from vit_gui.model import buffer_pool
from vit_gui.model.buffer_pool import BufferPool
from vit_gui.predict import Predictor


def address(array) -> int:
    return np.asarray(array).__array_interface__["data"][0]


MB = 2**20


def test_memory_comes_back_only_after_the_last_view_is_gone():
    pool = BufferPool()
    first = pool.empty((2, 3, MB // 8), np.float32)
    first[:] = 7.0
    start = address(first)
    row = first[1][1:]  # a numpy view of a view
    tensor = torch.from_numpy(first).view(torch.int32).unbind(0)  # torch views of it
    block = first.base  # what numpy's views point at: no buffer of its own to read the memory through
    with pytest.raises(TypeError):
        memoryview(block)
    del first, block
    gc.collect()
    assert pool.idle_bytes() == 0
    other = pool.empty((2, 3, MB // 8), np.float32)  # asked for while the views live: fresh memory
    assert not np.may_share_memory(other, row) and pool.reused == 0
    other[:] = -1.0
    assert (row == 7.0).all() and all((t.view(torch.float32) == 7.0).all() for t in tensor)
    del row
    assert pool.idle_bytes() == 0  # the torch views still hold it
    del tensor
    assert pool.idle_bytes() == 3 * MB
    again = pool.empty((3, MB // 8, 2), np.float32)
    assert pool.reused == 1 and address(again) == start


def test_idle_memory_is_capped_by_count_and_bytes_the_oldest_going_first():
    pool = BufferPool(max_idle=2, max_idle_bytes=10 * MB)
    arrays = [pool.empty((MB,), np.uint8) for _ in range(3)]
    oldest = address(arrays[0])
    del arrays
    assert pool.idle_bytes() == 2 * MB  # three returned, two kept
    assert address(pool.empty((MB,), np.uint8)) != oldest
    big = pool.empty((9 * MB,), np.uint8)
    del big
    assert pool.idle_bytes() <= 10 * MB
    pool.clear()
    assert pool.idle_bytes() == 0


def test_only_memory_of_the_very_size_is_reused_and_small_arrays_are_not_pooled():
    pool = BufferPool()
    pool.empty((2 * MB,), np.uint8)  # let go at once
    smaller = pool.empty((MB,), np.uint8)  # would pin a block twice its size, unseen by whoever counts it
    assert pool.reused == 0 and pool.idle_bytes() == 2 * MB
    del smaller
    tiny = pool.empty((1000,), np.uint8)
    del tiny
    assert sorted(pool._idle_sizes()) == [MB, 2 * MB]  # a tiny array never pushes a big block out
    assert pool.empty((0, 5), np.float32).shape == (0, 5)
    with pytest.raises(ValueError):
        pool.empty((-1, 4), np.float32)


def test_a_finaliser_that_finds_the_pool_busy_lets_the_memory_go_instead_of_waiting():
    pool = BufferPool()
    array = pool.empty((MB,), np.uint8)
    with pool._lock:  # as when the garbage collector runs inside the pool's own code
        del array
    assert pool.idle_bytes() == 0


def test_as_float32_passes_float32_through_and_copies_others_into_pooled_memory():
    values = torch.rand(2, 3, 5, 5)
    assert buffer_pool.as_float32(values) is values
    half = values.to(torch.bfloat16)
    widened = buffer_pool.as_float32(half)
    assert widened.dtype == torch.float32 and torch.equal(widened, half.float())
    assert buffer_pool.pooled_tensor((2, 3), torch.bfloat16).dtype == torch.bfloat16
    assert buffer_pool.pooled_tensor((2, 3), torch.int64).dtype == torch.int64


@pytest.mark.parametrize("engine", ["torch", "openvino"])
def test_a_second_batch_writes_into_the_first_batchs_pages_once_it_is_let_go(tiny_checkpoint, photos, engine,
                                                                                tmp_path, monkeypatch):
    """The engines' attentions come from the pool: a batch whose predictions the caller has
    let go gives its memory to the next batch, and a batch still held never does."""
    if engine == "openvino":
        pytest.importorskip("openvino")
    monkeypatch.setenv("VIT_GUI_ENGINE_CACHE", str(tmp_path / "engine-cache"))
    pool = buffer_pool.ATTENTIONS
    pool.clear()
    predictor = Predictor.from_file(tiny_checkpoint, engine=engine)
    batch = [Image.fromarray(photos[name]) for name in ("chelsea", "coffee", "rocket")]
    held = predictor.predict(batch, with_attentions=True)
    expected = [p.attentions.clone() for p in held]
    reused = pool.reused
    kept = predictor.predict(batch, with_attentions=True)  # the first batch is still held
    assert pool.reused == reused
    assert not any(np.may_share_memory(a.attentions.numpy(), b.attentions.numpy()) for a in held for b in kept)
    start = address(held[0].attentions)
    del held
    gc.collect()
    again = predictor.predict(batch, with_attentions=True)
    assert pool.reused == reused + 1 and address(again[0].attentions) == start
    for prediction, before, other in zip(again, expected, kept):
        torch.testing.assert_close(prediction.attentions, before, atol=0, rtol=0)
        torch.testing.assert_close(other.attentions, before, atol=0, rtol=0)


@pytest.mark.parametrize("engine", ["torch", "openvino"])
def test_a_loaded_model_keeps_no_pooled_memory_from_its_precision_trials(tiny_checkpoint, engine, tmp_path,
                                                                          monkeypatch):
    """`--precision auto` times each format with the attentions kept; a window that loads a
    model and runs nothing must not keep that memory."""
    if engine == "openvino":
        pytest.importorskip("openvino")
    monkeypatch.setenv("VIT_GUI_ENGINE_CACHE", str(tmp_path / "engine-cache"))
    monkeypatch.setattr(buffer_pool, "MIN_POOLED_BYTES", 0)  # the tiny model's attentions pooled too
    pool, handed_out, real_empty = buffer_pool.ATTENTIONS, [], buffer_pool.ATTENTIONS.empty
    monkeypatch.setattr(pool, "empty", lambda *args: handed_out.append(args) or real_empty(*args))
    Predictor.from_file(tiny_checkpoint, precision="auto", engine=engine)
    gc.collect()
    assert handed_out and pool.idle_bytes() == 0

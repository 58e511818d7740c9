"""The converted-graph cache (model/engine_cache.py): read only under its own key, written
whole or not at all, and kept under its budget, the least recently used graph going first."""

import json
import os
import sys
import time

from vit_gui.model import engine_cache


def put(root, key, size, details=None):
    engine_cache.write(root, key, details or {}, lambda staging: (staging / "model.bin").write_bytes(b"x" * size))
    return engine_cache.folder_for(root, key)


def age(folder, seconds):
    stamp = time.time() - seconds
    os.utime(folder / engine_cache.DIGEST, (stamp, stamp))


def test_read_only_under_its_own_key(tmp_path):
    put(tmp_path, "a" * 64, 10)
    assert engine_cache.read(tmp_path, "a" * 64, lambda folder: (folder / "model.bin").read_bytes()) == b"x" * 10
    assert engine_cache.read(tmp_path, "a" * 32 + "b" * 32, lambda folder: "wrong") is None  # same folder, other key
    assert engine_cache.read(tmp_path, "c" * 64, lambda folder: "absent") is None


def test_the_least_recently_used_graphs_go_first_and_the_new_one_stays(tmp_path, monkeypatch):
    monkeypatch.setenv("VIT_GUI_ENGINE_CACHE_MB", str(2500 / 1024**2))  # room for two 1000-byte graphs
    old, used, newer = (put(tmp_path, letter * 64, 1000) for letter in "abc")  # the third write trims
    assert not old.exists() and used.exists() and newer.exists()
    age(used, 3000)
    age(newer, 2000)
    assert engine_cache.read(tmp_path, "b" * 64, lambda folder: True)  # reading marks it used
    latest = put(tmp_path, "d" * 64, 1000)
    assert used.exists() and latest.exists() and not newer.exists()
    big = put(tmp_path, "e" * 64, 5000)  # over the whole budget alone: it stays, the others go
    assert big.exists() and not used.exists() and not latest.exists()


def test_a_killed_conversions_leftovers_are_cleared_after_a_day(tmp_path):
    stale, fresh = tmp_path / ".converting-stale", tmp_path / ".converting-fresh"
    for folder in (stale, fresh):
        folder.mkdir()
        (folder / "model.bin").write_bytes(b"half")
    stamp = time.time() - 2 * 86400
    os.utime(stale, (stamp, stamp))
    engine_cache.trim(tmp_path, 10**9)
    assert not stale.exists() and fresh.exists()  # a conversion running now is left alone


def test_a_graph_that_cannot_be_moved_aside_stays_whole(tmp_path, monkeypatch):
    """Windows refuses to rename a folder whose graph another process has open: that graph
    is left whole (not half deleted) and the next oldest goes instead."""
    first, second, third = (put(tmp_path, letter * 64, 1000) for letter in "abc")
    for folder, seconds in ((first, 300), (second, 200), (third, 100)):
        age(folder, seconds)
    real_replace = os.replace

    def in_use(source, target):
        if source == first:
            raise PermissionError(13, "The process cannot access the file")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", in_use)
    removed = engine_cache.trim(tmp_path, 2500)
    assert removed == [second] and (first / "model.bin").is_file() and (first / engine_cache.DIGEST).is_file()
    assert not list(tmp_path.glob(".removing-*"))


def test_a_write_that_fails_leaves_nothing(tmp_path):
    def full_disk(_staging):
        raise OSError(28, "No space left on device")

    def openvino_refuses(_staging):  # what ov.save_model raises on a folder it cannot write
        raise RuntimeError("Exception from src/core/src/pass/serialize.cpp: Can't open bin file")

    for writer in (full_disk, openvino_refuses):
        engine_cache.write(tmp_path / "cache", "a" * 64, {}, writer)  # no exception: only a lost speed-up
        assert list((tmp_path / "cache").iterdir()) == []
    put(tmp_path / "cache", "b" * 64, 10, {"precision": "int8"})
    record = json.loads((engine_cache.folder_for(tmp_path / "cache", "b" * 64) / engine_cache.DIGEST).read_text())
    assert record == {"key": "b" * 64, "precision": "int8"}


def test_the_budget_setting(monkeypatch):
    for value, expected in (("100", 100 * 1024**2), ("0", 0), ("inf", sys.maxsize), ("1e400", sys.maxsize),
                            ("-5", engine_cache.BUDGET_BYTES), ("nan", engine_cache.BUDGET_BYTES),
                            ("lots", engine_cache.BUDGET_BYTES)):
        monkeypatch.setenv("VIT_GUI_ENGINE_CACHE_MB", value)
        assert engine_cache.budget() == expected, value
    monkeypatch.delenv("VIT_GUI_ENGINE_CACHE_MB")
    assert engine_cache.budget() == engine_cache.BUDGET_BYTES

"""The Qt-free session and the one record per image that the window, the CLI and the
exports share."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from vit_gui.record import NO_CLASSES_NOTE, ImageRecord, top_classes
from vit_gui.results_csv import results_csv
from vit_gui.session import CANCELLED, Session

INFO = SimpleNamespace(label=lambda i: f"name {i}")


def worker_result(key, probs=None, side=10, tokens=5):
    """What the worker sends back: a record carrying its display image and prediction."""
    prediction = SimpleNamespace(top=top_classes(probs, 3, INFO) if probs is not None else [], probs=probs,
                                 attentions=torch.zeros(1, 1, tokens, tokens))
    record = ImageRecord(key, "", "")
    record.display_image = Image.new("RGB", (side, side))
    return record.take(prediction, ("turned upright",))


def test_session_and_record_import_neither_qt_nor_torch():
    code = ("import sys, vit_gui.session, vit_gui.record, vit_gui.results_csv; "
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'torch'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_records_flow_from_waiting_to_classified_and_remote_ones_never_run():
    session = Session()
    a, b = session.add("a.jpg", "/photos/a.jpg"), session.add("b.jpg", "/photos/b.jpg")
    remote = session.add("https://x/y.jpg", "https://x/y.jpg", error="remote images are not fetched")
    assert session.runnable([a.key, b.key, remote.key]) == [(a.key, "/photos/a.jpg"), (b.key, "/photos/b.jpg")]
    probs = np.array([0.1, 0.6, 0.3])
    kept = session.accept(worker_result(a.key, probs))
    assert kept is a and [t.index for t in a.top] == [1, 2, 0] and a.notes == ("turned upright",)
    assert a.prediction is None and a.display_image is None  # heavy parts live in the cache only
    display, prediction = session.view(a.key)
    assert display.size == (10, 10) and prediction.probs is probs
    assert session.accept(worker_result(99, probs)) is None  # cleared meanwhile
    assert [r.key for r in session.cancel_waiting()] == [b.key] and b.error == CANCELLED
    assert session.counts() == (1, 2)


def test_rerank_uses_kept_probabilities_and_leaves_backbones_alone():
    session = Session()
    session.info = INFO
    a, backbone = session.add("a", "a"), session.add("b", "b")
    session.accept(worker_result(a.key, np.array([0.2, 0.5, 0.2, 0.1])))
    session.accept(worker_result(backbone.key, None))
    assert session.rerank(2) == [a] and [(t.index, t.label) for t in a.top] == [(1, "name 1"), (0, "name 0")]
    assert backbone.top == [] and backbone.is_backbone_result


def test_cache_stays_in_budget_and_never_evicts_the_shown_image():
    one = 10 * 10 * 3 + 5 * 5 * 4  # display image bytes + float32 attentions
    session = Session(cache_budget=3 * one)
    keys = [session.add(f"{i}", f"{i}").key for i in range(6)]
    session.shown = keys[0]
    for key in keys:
        session.accept(worker_result(key, np.array([1.0])))
    assert session.cache_bytes <= 3 * one
    assert session.is_kept(keys[0]) and session.is_kept(keys[-1]) and not session.is_kept(keys[1])
    waiting = session.forget_results()
    assert len(waiting) == 6 and not session.is_kept(keys[0]) and session.cache_bytes == 0
    assert all(r.top is None and r.error is None for r in waiting)


def test_json_and_csv_come_from_the_same_record():
    classified = ImageRecord(1, "a.jpg", "/p/a.jpg", top=top_classes(np.array([0.25, 0.75]), 2, INFO),
                             probs=np.array([0.25, 0.75]))
    failed = ImageRecord(2, "b.jpg", "/p/b.jpg").fail("not an image")
    backbone = ImageRecord(3, "c.jpg", "/p/c.jpg", top=[], maps={"kind": "rollout"})
    waiting = ImageRecord(4, "d.jpg", "/p/d.jpg")
    assert classified.to_json() == {"path": "/p/a.jpg", "top": [{"label": "name 1", "index": 1, "prob": 0.75},
                                                                {"label": "name 0", "index": 0, "prob": 0.25}],
                                    "error": None, "notes": []}
    assert failed.to_json()["error"] == "not an image" and failed.to_json()["notes"] == []
    assert backbone.to_json()["notes"] == [NO_CLASSES_NOTE] and backbone.to_json()["maps"] == {"kind": "rollout"}
    rows = results_csv([classified, failed, backbone, waiting]).splitlines()
    assert rows[0] == "path,rank,label,index,prob,error,note"
    assert rows[1:] == ["/p/a.jpg,1,name 1,1,0.750000,,", "/p/a.jpg,2,name 0,0,0.250000,,",
                        "/p/b.jpg,,,,,not an image,", f'/p/c.jpg,,,,,,"{NO_CLASSES_NOTE}"',
                        "/p/d.jpg,,,,,not classified yet,"]

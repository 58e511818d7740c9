"""The window facing bad input: mixed folders, broken settings, missing CUDA, huge folders."""

import os

import bad_inputs
import pytest
import torch
from gui_helpers import drop, make_window, wait_idle
from PIL import Image
from PySide6.QtCore import QSettings

from vit_gui import session
from vit_gui.gui.settings import Settings


def test_a_mixed_folder_gives_each_bad_file_its_message(qtbot, tmp_path, photos, tiny_checkpoint):
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    folder = tmp_path / "desktop"
    folder.mkdir()
    expected = {case(folder, photos)[0].name: case(folder, photos)[1] for case in bad_inputs.IMAGE_CASES}
    os.symlink(folder, folder / "loop")
    drop(window, paths=[folder])
    wait_idle(qtbot, window)
    items = {item.name: item for item in window.session.records.values()}
    assert set(items) == set(expected)
    for name, (outcome, detail) in expected.items():
        text = window.results.item_text(items[name].key)
        if outcome == "error":
            assert detail in items[name].error and "⚠" in text, name
        else:
            assert items[name].error is None and items[name].top, name
            if detail:
                assert detail in text, name


def test_a_corrupt_settings_file_does_not_stop_the_app(qtbot, tmp_path, tiny_checkpoint):
    settings = tmp_path / "s.ini"
    settings.write_bytes(os.urandom(3000) + b"\n[General]\nopacity=banana\ntop_k=-4\nfusion=median\n"
                         b"recent_files=@Invalid()\nwindow_geometry=@ByteArray(nonsense)\nmodel=\x00\xff\n")
    window = make_window(qtbot, settings, tiny_checkpoint)
    assert window.isVisible()
    assert window.map_controls.opacity.value() == 50 and window.top_k.value() == 5
    assert window.map_controls.fusion_name() == "mean"
    window.map_controls.opacity.setValue(70)  # and it still saves
    window.close()
    assert Settings(QSettings(str(settings), QSettings.Format.IniFormat)).opacity == pytest.approx(0.7)


def test_cuda_is_greyed_out_with_the_reason_where_missing(qtbot, tmp_path, tiny_checkpoint):
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    cuda = window.model_panel.device.model().item(1)
    qtbot.waitUntil(lambda: "checking" not in cuda.toolTip(), timeout=30_000)
    if torch.cuda.is_available():
        assert cuda.isEnabled()
    else:
        assert not cuda.isEnabled()
        assert "no CUDA support" in cuda.toolTip() or "no usable NVIDIA GPU" in cuda.toolTip()
        assert window.model_panel.current_device() == "cpu"


def test_cuda_chosen_where_there_is_none_keeps_the_model(qtbot, tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    window.models.load(str(tiny_checkpoint), "cuda")
    qtbot.waitUntil(lambda: window.models.loading is None, timeout=30_000)
    assert "CUDA was requested but" in window.model_panel.status.text()
    assert window.models.loaded == str(tiny_checkpoint) and window.worker.predictor.device.type == "cpu"


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS"))


def test_a_thousand_images_stream_with_flat_memory_and_cancel(qtbot, tmp_path, photos, tiny_checkpoint, monkeypatch):
    budget = 40 * 1024 * 1024
    monkeypatch.setattr(session, "CACHE_BUDGET_BYTES", budget)
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    folder = tmp_path / "thousand"
    folder.mkdir()
    small = Image.fromarray(photos["chelsea"]).resize((48, 32))
    for i in range(1000):
        small.save(folder / f"{i:04d}.png")
    before = rss_bytes()
    drop(window, paths=[folder])
    # the folder is walked in slices between events (a busy machine walks fewer photos a slice)
    qtbot.waitUntil(lambda: len(window.session.records) == 1000, timeout=60_000)
    qtbot.waitUntil(lambda: sum(1 for i in window.session.records.values() if i.top) >= 300, timeout=180_000)
    # each result keeps ~1.9 MB of attentions: without the cache budget 300 would hold ~570 MB
    assert window.session.cache_bytes <= budget
    growth = rss_bytes() - before
    print(f"RSS growth after 300 results: {growth / 1e6:.0f} MB")
    assert growth < 250 * 1024 * 1024
    window.batches.cancel()
    wait_idle(qtbot, window)
    done = sum(1 for i in window.session.records.values() if i.top)
    assert 300 <= done < 1000
    assert sum(1 for i in window.session.records.values() if i.error and "cancelled" in i.error) == 1000 - done
    # an early image whose maps were evicted is recomputed when selected
    early = window.results.keys()[1]  # (the first is selected, so it stays)
    assert not window.session.is_kept(early)
    window.results.select_key(early)
    qtbot.waitUntil(lambda: window.map_view.current_map is not None and window.session.is_kept(early), timeout=30_000)


def test_a_file_deleted_after_the_drop_gets_its_message(qtbot, tmp_path, photos, tiny_checkpoint):
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    folder = tmp_path / "vanishing"
    folder.mkdir()
    for i in range(12):
        Image.fromarray(photos["coffee"]).save(folder / f"{i:02d}.png")
    drop(window, paths=[folder])
    (folder / "11.png").unlink()  # the worker reaches it last
    wait_idle(qtbot, window)
    gone = next(item for item in window.session.records.values() if item.name == "11.png")
    assert "no such file" in gone.error
    assert sum(1 for item in window.session.records.values() if item.top) == 11


def test_a_bad_image_in_a_batched_group_costs_the_others_nothing(qtbot, tmp_path, tiny_checkpoint, photos, monkeypatch):
    """Groups run as one batch; when the model fails on a group, each image is retried alone."""
    from vit_gui.predict import Predictor

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    folder = tmp_path / "group"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(photos["coffee"]).save(folder / f"{i}.png")
    (folder / "4.png").write_bytes(b"not a png")
    original = Predictor.predict

    def fails_on_groups(self, images, *args, **kwargs):
        if len(images) > 1:
            raise RuntimeError("a batch the backend cannot run")
        return original(self, images, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict", fails_on_groups)
    drop(window, paths=[folder])
    wait_idle(qtbot, window)
    records = {r.name: r for r in window.session.records.values()}
    assert all(records[f"{i}.png"].top for i in range(4)) and "not an image" in records["4.png"].error

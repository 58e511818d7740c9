"""The real window, driven offscreen with pytest-qt: drops, maps, cancel, close, export."""

import csv
import shutil
import time

import numpy as np
import pytest
from gui_helpers import drop, make_window, wait_idle, wait_map, wait_model
from PIL import Image
from PySide6.QtCore import Qt, QTimer

from vit_gui.explain.legend import legend_height
from vit_gui.explain.maps import METHODS, MapSpec
from vit_gui.gui.window_input import REMOTE_MESSAGE
from vit_gui.images import load_image
from vit_gui.map_state import VIEW_ATLAS, VIEW_BLOCKS, VIEW_HEADS, VIEW_SINGLE
from vit_gui.predict import Prediction, Predictor
from vit_gui.session import CANCELLED


@pytest.fixture
def settings_file(tmp_path):
    return str(tmp_path / "settings.ini")


@pytest.fixture
def window(qtbot, settings_file, tiny_checkpoint):
    return make_window(qtbot, settings_file, tiny_checkpoint)


def key_of(window, name):
    return next(k for k, item in window.session.records.items() if item.name == name)


def test_window_is_usable_before_any_model(qtbot, settings_file, monkeypatch, tmp_path):
    monkeypatch.setattr("vit_gui.model.catalog.model_data_dir", lambda: tmp_path / "none")
    window = make_window(qtbot, settings_file)
    assert window.isVisible() and window.models.info is None
    qtbot.waitUntil(lambda: "No model is installed" in window.model_panel.status.text())
    assert window.model_panel.get_models.isEnabled() and window.model_panel.add_model.isEnabled()


def test_drop_files_and_a_folder_streams_results(qtbot, window, photo_folder, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(photo_folder / "coffee.png", extra / "cup.png")
    (extra / "notes.jpg").write_text("not a picture")
    drop(window, paths=[photo_folder, extra / "cup.png", extra / "notes.jpg"], urls=["https://example.com/cat.jpg"])
    wait_idle(qtbot, window)
    names = [window.session.records[k].name for k in window.results.keys()]
    assert names == ["https://example.com/cat.jpg", "chelsea.jpg", "coffee.png", "rocket.jpg", "cup.png", "notes.jpg"]
    assert window.session.records[key_of(window, "https://example.com/cat.jpg")].error == REMOTE_MESSAGE
    assert "not an image" in window.session.records[key_of(window, "notes.jpg")].error
    predictor = Predictor.from_file(window.models.loaded)
    for name in ("chelsea.jpg", "coffee.png", "rocket.jpg", "cup.png"):
        key = key_of(window, name)
        path = window.session.records[key].source
        expected = predictor.predict([load_image(path).image], top_k=5)[0]
        assert [t.index for t in window.session.records[key].top] == [t.index for t in expected.top]
        assert expected.top[0].label in window.results.item_text(key)
        assert len(window.results.class_rows(key)) == 5
    assert "⚠" in window.results.item_text(key_of(window, "notes.jpg"))


def test_every_map_shown_equals_the_engines(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    key = key_of(window, "chelsea.jpg")
    window.results.select_key(key)
    qtbot.waitUntil(lambda: window.map_view.current_map is not None)
    view = window.map_view
    expected = Predictor.from_file(window.models.loaded).predict(
        [load_image(photo_folder / "chelsea.jpg").image], with_attentions=True)[0]

    view.state.change(method="rollout")
    window.map_controls.set_fusion("max")
    window.map_controls.discard.setValue(30)
    wait_map(qtbot, view)
    np.testing.assert_allclose(view.current_map, expected.map(MapSpec("rollout", "max", 0.3)), atol=1e-6)

    view.state.change(method="block")
    window.map_controls.block.setValue(3)
    window.map_controls.set_fusion("min")
    wait_map(qtbot, view)
    np.testing.assert_allclose(view.current_map, expected.map(MapSpec("block", "min", block=2)), atol=1e-6)

    view.state.change(method="head")
    window.map_controls.head.setCurrentIndex(1)  # head 2
    wait_map(qtbot, view)
    np.testing.assert_allclose(view.current_map, expected.map(MapSpec("head", block=2, head=1)), atol=1e-6)

    second_class = window.session.records[key].top[1].index
    window.results.click_class(key, second_class)
    qtbot.waitUntil(lambda: view.has_class_map(second_class), timeout=30_000)
    reference, _ = Predictor.from_file(window.models.loaded).class_map(load_image(photo_folder / "chelsea.jpg").image, second_class)
    np.testing.assert_allclose(view.current_map, reference, atol=1e-6)
    assert window.map_view.caption.text().startswith("evidence for")


def test_map_choices_come_from_the_registry_and_only_their_controls_are_live(qtbot):
    from vit_gui.gui.map_controls import MapControls
    from vit_gui.map_state import MapState

    controls = MapControls(MapState())
    qtbot.addWidget(controls)
    assert not controls.isEnabled()  # nothing shown yet: no map to choose
    assert [controls.mode.itemText(i) for i in range(controls.mode.count())] == [m.title for m in METHODS.values()]
    for method in METHODS.values():
        controls.state.change(method=method.name)
        live = {name for name, widgets in controls.parameter_widgets.items() if widgets[0].isEnabledTo(controls)}
        assert live == set(method.parameters) - {"class_index"}, method.name


def test_tiles_show_every_block_and_every_head_and_select_on_click(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.map_view.current_map is not None)
    view = window.map_view
    window.map_controls.view.setCurrentIndex(VIEW_BLOCKS)
    wait_map(qtbot, view)
    assert view.tile_count() == 4  # the tiny model's depth
    view.state.select_tile(2)
    wait_map(qtbot, view)
    assert window.map_controls.block.value() == 3 and view.state.method.name == "block"
    np.testing.assert_allclose(view.current_map, view.prediction.map(MapSpec("block", window.map_controls.fusion_name(), block=2)))
    window.map_controls.view.setCurrentIndex(VIEW_HEADS)
    qtbot.waitUntil(lambda: not view.computing and view.caption.text().startswith("every head"))
    assert view.tile_count() == 3  # heads of block 3
    view.state.select_tile(1)
    wait_map(qtbot, view)
    assert view.state.method.name == "head" and window.map_controls.head.currentIndex() == 1
    np.testing.assert_allclose(view.current_map, view.prediction.map(MapSpec("head", block=2, head=1)))


def test_switching_maps_never_runs_the_model(qtbot, window, photo_folder, monkeypatch):
    drop(window, paths=[photo_folder / "more" / "rocket.jpg"])
    wait_idle(qtbot, window)
    qtbot.waitUntil(lambda: window.map_view.current_map is not None)
    calls = []
    monkeypatch.setattr(window.worker.predictor.model, "forward", lambda *a, **k: calls.append(1))
    view = window.map_view
    for fusion in ("mean", "max", "min"):
        window.map_controls.set_fusion(fusion)
    view.state.change(method="block")
    for block in range(1, 5):
        window.map_controls.block.setValue(block)
    window.map_controls.opacity.setValue(80)
    window.map_controls.colormap.setCurrentText("jet")
    qtbot.wait(200)
    assert calls == []


def copies(folder, source, count):
    folder.mkdir()
    for i in range(count):
        shutil.copy(source, folder / f"img{i:03d}.png")
    return folder


def test_cancel_midway_stops_within_one_image(qtbot, window, photo_folder, tmp_path):
    folder = copies(tmp_path / "many", photo_folder / "coffee.png", 60)
    drop(window, paths=[folder])
    qtbot.waitUntil(lambda: sum(1 for i in window.session.records.values() if i.top) >= 2, timeout=30_000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    done = sum(1 for i in window.session.records.values() if i.top)
    cancelled = [i for i in window.session.records.values() if i.error and "cancelled" in i.error]
    assert 2 <= done < 60 and len(cancelled) == 60 - done
    assert "cancelled after" in window.status_label.text()


def test_close_with_a_batch_running_stops_the_thread_cleanly(qtbot, settings_file, tiny_checkpoint, photo_folder, tmp_path, capfd):
    window = make_window(qtbot, settings_file, tiny_checkpoint)
    drop(window, paths=[copies(tmp_path / "many", photo_folder / "coffee.png", 80)])
    qtbot.waitUntil(lambda: any(i.top for i in window.session.records.values()), timeout=30_000)
    assert window.batches.is_busy()
    window.close()
    assert window.thread.isFinished()
    assert "Destroyed while thread" not in capfd.readouterr().err


def test_export_png_and_csv_read_back(qtbot, window, photo_folder, tmp_path):
    drop(window, paths=[photo_folder])
    wait_idle(qtbot, window)
    window.results.select_key(key_of(window, "rocket.jpg"))
    window.map_controls.opacity.setValue(100)
    wait_map(qtbot, window.map_view)  # the rocket's own map, not the one shown before it
    png = tmp_path / "out" / "rocket.overlay.png"
    assert window.saving.png(str(png))
    qtbot.waitUntil(lambda: window.status_label.text() == f"saved {png}", timeout=30_000)
    original = load_image(photo_folder / "more" / "rocket.jpg").image
    width, height = original.size
    with Image.open(png) as saved:
        assert saved.size == (width, height + legend_height(width))  # the colour legend below the photo
        photo_part = np.asarray(saved, np.int16)[:height]
        assert np.abs(photo_part - np.asarray(original, np.int16)).mean() > 10  # the map is on it
    window.menus.legend_action.setChecked(False)  # File > Colour legend on saved pictures, off
    bare = tmp_path / "out" / "rocket.bare.png"
    assert window.saving.png(str(bare))
    qtbot.waitUntil(lambda: window.status_label.text() == f"saved {bare}", timeout=30_000)
    with Image.open(bare) as saved:
        assert saved.size == original.size
        np.testing.assert_array_equal(np.asarray(saved, np.int16), photo_part)

    table = tmp_path / "out" / "results.csv"
    assert window.saving.csv(str(table))
    rows = list(csv.DictReader(table.open()))
    assert list(rows[0]) == ["path", "rank", "label", "index", "prob", "error", "note"]
    assert len(rows) == 3 * window.top_k.value()
    for key in window.results.keys():
        item = window.session.records[key]
        mine = [r for r in rows if r["path"] == item.source]
        assert [int(r["index"]) for r in mine] == [t.index for t in item.top]
        assert [float(r["prob"]) for r in mine] == pytest.approx([t.prob for t in item.top], abs=1e-6)


def test_settings_persist_between_runs(qtbot, settings_file, tiny_checkpoint, photo_folder):
    first = make_window(qtbot, settings_file, tiny_checkpoint)
    first.map_controls.colormap.setCurrentText("viridis")
    first.map_controls.opacity.setValue(73)
    first.map_controls.set_fusion("max")
    first.map_controls.discard.setValue(20)
    first.top_k.setValue(3)
    drop(first, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, first)
    first.close()

    second = make_window(qtbot, settings_file)
    wait_model(qtbot, second)
    assert second.models.loaded == str(tiny_checkpoint)
    assert second.map_controls.colormap.currentText() == "viridis"
    assert second.map_controls.opacity.value() == 73
    assert second.map_controls.fusion_name() == "max" and second.map_controls.discard.value() == 20
    assert second.top_k.value() == 3
    assert second.settings.paths("recent_files")[0] == str(photo_folder / "coffee.png")
    assert [a.text() for a in second.menus.recent_menu.actions()][0] == str(photo_folder / "coffee.png")


def test_a_bad_model_keeps_the_previous_one_loaded(qtbot, window, tmp_path, photo_folder):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"garbage" * 100)
    good = window.models.loaded
    window.models.add_file(str(bad))
    qtbot.waitUntil(lambda: window.models.loading is None, timeout=30_000)
    assert window.models.loaded == good
    assert "Could not load" in window.model_panel.status.text() and "stays loaded" in window.model_panel.status.text()
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    assert window.session.records[key_of(window, "coffee.png")].top


def test_keyboard_moves_through_results(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder])
    wait_idle(qtbot, window)
    keys = window.results.keys()
    window.results.select_key(keys[0])
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.results.current_key() == keys[1]
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert window.results.current_key() == keys[0]


def test_top_k_change_needs_no_model_run(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    key = key_of(window, "chelsea.jpg")
    before = [t.index for t in window.session.records[key].top]
    window.top_k.setValue(8)
    assert len(window.results.class_rows(key)) == 8
    assert [t.index for t in window.session.records[key].top][:5] == before


# ---- responsiveness -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def heavy_checkpoint(tmp_path_factory):
    """A ViT-B-sized model run at 384x384: close to a second per image on two cores."""
    import json

    import torch

    from vit_gui.model.vit import VisionTransformer

    folder = tmp_path_factory.mktemp("heavy")
    torch.manual_seed(0)
    torch.save(VisionTransformer(embed_dim=768, depth=12, num_heads=12, num_classes=10).state_dict(), folder / "vitb.pth")
    (folder / "vitb.pth.json").write_text(json.dumps({"input_size": 384}))
    return folder / "vitb.pth"


class Heartbeat:
    """A 10 ms QTimer on the GUI thread; records the longest gap between its ticks."""

    def __init__(self):
        self.last, self.longest = time.perf_counter(), 0.0
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(10)

    def tick(self):
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def stop(self):
        self.timer.stop()


def test_inference_never_runs_on_the_gui_thread(qtbot, window, photo_folder, monkeypatch):
    """The clock-free twin of the heartbeat test below: every model run is on another thread."""
    import threading

    threads = []
    original = Predictor._predict

    def recording(self, *args, **kwargs):
        threads.append(threading.get_ident())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "_predict", recording)
    drop(window, paths=[photo_folder])
    wait_idle(qtbot, window)
    # the three photos of the drop go through the model in one batched run, off the GUI thread
    assert len(threads) == 1 and all(item.top for item in window.session.records.values())
    assert threading.main_thread().ident not in threads


@pytest.mark.slow  # wall-clock bound: a busy 2-core machine misses it; benchmarks/gui_stall.py has the figure
def test_gui_thread_stays_responsive_during_a_batch(qtbot, settings_file, heavy_checkpoint, photo_folder, tmp_path):
    window = make_window(qtbot, settings_file, heavy_checkpoint)
    folder = copies(tmp_path / "batch", photo_folder / "chelsea.jpg", 6)

    # control: the same inference on the GUI thread stalls the heartbeat far past 250 ms,
    # so the check below would catch inference that ran there
    predictor = Predictor.from_file(heavy_checkpoint)
    beat = Heartbeat()
    qtbot.wait(50)
    QTimer.singleShot(0, lambda: predictor.predict([load_image(folder / "img000.png").image], with_attentions=True))
    qtbot.wait(1500)
    beat.stop()
    assert beat.longest > 0.25

    beat = Heartbeat()
    drop(window, paths=[folder])
    wait_idle(qtbot, window, timeout=120_000)
    beat.stop()
    assert all(item.top for item in window.session.records.values())
    print(f"longest GUI-thread gap during the batch: {beat.longest * 1000:.0f} ms")
    assert beat.longest < 0.25, f"the GUI thread stalled for {beat.longest * 1000:.0f} ms"


def test_paste_an_image_from_the_clipboard(qtbot, window, photos):
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    picture = Image.fromarray(photos["coffee"])
    data = picture.tobytes()
    QApplication.clipboard().setImage(QImage(data, picture.width, picture.height, 3 * picture.width,
                                             QImage.Format.Format_RGB888).copy())
    qtbot.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, window)
    [item] = window.session.records.values()
    assert item.name.startswith("pasted image") and item.top
    expected = Predictor.from_file(window.models.loaded).predict([picture])[0]
    assert [t.index for t in item.top] == [t.index for t in expected.top]


def test_switching_model_during_a_batch_cancels_reloads_and_reclassifies(qtbot, window, photo_folder, tmp_path):
    from conftest import make_hf_vit, write_checkpoint

    other_folder = tmp_path / "other-model"
    other_folder.mkdir()
    other = write_checkpoint(make_hf_vit("ViT-Ti/16", depth=4, num_labels=10, seed=7, scale=3.0), other_folder,
                             sidecar={"num_heads": 3, "name": "other"})
    drop(window, paths=[copies(tmp_path / "many", photo_folder / "coffee.png", 40)])
    qtbot.waitUntil(lambda: any(i.top for i in window.session.records.values()), timeout=30_000)
    window.models.add_file(str(other))  # while the batch runs
    qtbot.waitUntil(lambda: window.models.loaded == str(other), timeout=30_000)
    wait_idle(qtbot, window, timeout=120_000)
    expected = Predictor.from_file(other).predict([load_image(photo_folder / "coffee.png").image])[0]
    assert all([t.index for t in item.top] == [t.index for t in expected.top] for item in window.session.records.values())
    assert all(item.error is None for item in window.session.records.values())


def test_the_window_is_shown_before_torch_is_imported(tmp_path):
    """Torch and the model load on the worker thread; the window does not wait for them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from vit_gui.gui.main_window import MainWindow\n"
        "window = MainWindow()\n"
        "window.show()\n"
        "print('visible', window.isVisible(), 'torch', 'torch' in sys.modules)\n"
        "window.close()\n"
    )
    env = {**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen", "VIT_GUI_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "visible True torch False" in out.stdout, out.stderr


def test_a_failed_first_item_gives_way_to_the_first_success(qtbot, window, photo_folder, tmp_path):
    (tmp_path / "a-broken.jpg").write_text("not a picture")
    drop(window, paths=[tmp_path / "a-broken.jpg", photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    assert window.session.records[window.results.current_key()].name == "coffee.png"
    # maps are drawn from the map thread: the first success's map arrives after the batch ends
    qtbot.waitUntil(lambda: window.map_view.current_map is not None, timeout=10_000)


def test_an_image_dragged_from_a_browser_is_classified_from_its_data(qtbot, window, photos):
    from PySide6.QtGui import QImage

    picture = Image.fromarray(photos["rocket"])
    data = picture.tobytes()
    qimage = QImage(data, picture.width, picture.height, 3 * picture.width, QImage.Format.Format_RGB888).copy()
    drop(window, urls=["https://example.org/images/launch.jpg"], image=qimage)
    wait_idle(qtbot, window)
    [item] = window.session.records.values()
    assert item.name == "launch.jpg" and item.error is None and item.top
    expected = Predictor.from_file(window.models.loaded).predict([picture])[0]
    assert [t.index for t in item.top] == [t.index for t in expected.top]


def test_enter_on_a_class_row_shows_its_evidence(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    key = key_of(window, "coffee.png")
    item = window.results.topLevelItem(0)
    item.setExpanded(True)
    window.results.setFocus()
    window.results.setCurrentItem(item.child(2))
    qtbot.keyClick(window.results, Qt.Key.Key_Return)
    third = window.session.records[key].top[2].index
    qtbot.waitUntil(lambda: window.map_view.has_class_map(third), timeout=30_000)
    assert window.map_view.spec().kind == "class" and window.map_view.spec().class_index == third


def test_maps_are_computed_off_the_gui_thread_with_one_torch_thread(qtbot, window, photo_folder, monkeypatch):
    import threading

    import torch

    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    seen = []
    original = Prediction.map

    def spy(self, spec):
        seen.append((threading.current_thread() is threading.main_thread(), torch.get_num_threads()))
        return original(self, spec)

    monkeypatch.setattr(Prediction, "map", spy)
    view.state.change(method="block")
    wait_map(qtbot, view)
    view.state.change(method="rollout")
    wait_map(qtbot, view)
    assert seen and all(not on_gui and threads == 1 for on_gui, threads in seen)


def test_a_colour_bar_says_what_the_colours_mean(qtbot):
    from vit_gui.gui.map_parts import MapLegend
    from vit_gui.map_state import MapState

    legend, state = MapLegend(), MapState()
    qtbot.addWidget(legend)
    assert legend.bar.pixmap().isNull()  # drawn with the first map: matplotlib waits until then
    legend.show_for(state.settings.colormap, state.legend_text())
    first = legend.bar.pixmap().toImage()
    assert not first.isNull() and first.width() == 200 and legend.low.text() == "less attention"
    assert first.pixelColor(0, 5) != first.pixelColor(199, 5)  # a ramp, not a block
    state.change(colormap="gray")
    legend.show_for(state.settings.colormap, state.legend_text())
    gray = legend.bar.pixmap().toImage()
    assert gray.pixelColor(199, 5).red() == gray.pixelColor(199, 5).green() == gray.pixelColor(199, 5).blue()
    state.change(method="class")
    legend.show_for(state.settings.colormap, state.legend_text())
    assert legend.high.text() == "more evidence for the class"


def two_photos_first_shown(qtbot, window, photo_folder):
    """The cat and the cup classified, the cat's map shown: (view, cat's key, cup's key)."""
    drop(window, paths=[photo_folder / "chelsea.jpg", photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.map_view
    first, second = key_of(window, "chelsea.jpg"), key_of(window, "coffee.png")
    window.results.select_key(first)
    wait_map(qtbot, view)
    return view, first, second


def test_class_evidence_stays_chosen_when_another_image_is_selected(qtbot, window, photo_folder):
    view, first, second = two_photos_first_shown(qtbot, window, photo_folder)
    picked = window.session.records[first].top[1].index  # not the top class: it stays picked
    window.results.click_class(first, picked)
    qtbot.waitUntil(lambda: view.has_class_map(picked), timeout=30_000)
    window.results.select_key(second)
    qtbot.waitUntil(lambda: view.has_class_map(picked) and view.current_map is not None, timeout=30_000)
    assert view.state.method.name == "class" and view.state.class_index == picked
    assert view.legend.low.text() == "less evidence" and view.legend.high.text().startswith("more evidence for “")
    reference, _ = Predictor.from_file(window.models.loaded).class_map(load_image(photo_folder / "coffee.png").image,
                                                                      picked)
    np.testing.assert_allclose(view.current_map, reference, atol=1e-6)


def test_class_evidence_follows_each_images_top_class_unless_one_is_picked(qtbot, window, photo_folder):
    view, first, second = two_photos_first_shown(qtbot, window, photo_folder)
    view.state.change(method="class")  # chosen in the Map box, no class clicked: the top class
    top_first = window.session.records[first].top[0].index
    qtbot.waitUntil(lambda: view.has_class_map(top_first) and view.current_map is not None, timeout=30_000)
    assert view.state.class_index == top_first
    window.results.select_key(second)
    top_second = window.session.records[second].top[0].index
    assert top_second != top_first  # else this test could not tell following from staying
    qtbot.waitUntil(lambda: view.has_class_map(top_second) and view.current_map is not None, timeout=30_000)
    assert view.state.method.name == "class" and view.state.class_index == top_second


def live_controls(controls):
    return {name for name, widgets in controls.parameter_widgets.items() if widgets[0].isEnabledTo(controls)}


def test_each_view_enables_only_the_controls_it_reads(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    view.state.change(method="head")
    expected = {VIEW_SINGLE: {"block", "head"}, VIEW_BLOCKS: {"fusion"}, VIEW_HEADS: {"block"}, VIEW_ATLAS: set()}
    for index, live in expected.items():
        window.map_controls.view.setCurrentIndex(index)
        assert live_controls(window.map_controls) == live, index
        assert window.map_controls.mode.isEnabled() == (index == VIEW_SINGLE)  # the tiles say what they show
        assert view.compare_row.isVisibleTo(view) == (index == VIEW_SINGLE)
    window.map_controls.view.setCurrentIndex(VIEW_SINGLE)
    wait_map(qtbot, view)
    window.map_controls.show_overlay.setChecked(False)
    assert "map is hidden" in view.caption.text() and not view.legend.isVisibleTo(view)
    assert not view.compare_row.isVisibleTo(view)


def test_the_atlas_shows_every_block_by_every_head_and_a_click_enlarges_one(qtbot, window, photo_folder, tmp_path):
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    window.map_controls.view.setCurrentIndex(VIEW_ATLAS)
    qtbot.waitUntil(lambda: not view.computing and view.tile_count() == 4 * 3, timeout=30_000)  # tiny: 4 x 3
    cells = view.sheet.cells
    assert [c[1] for c in cells[:3]] == [cells[0][1]] * 3 and cells[3][1] > cells[0][1]  # a row per block
    png = tmp_path / "atlas.png"
    assert window.saving.png(str(png))
    qtbot.waitUntil(lambda: window.status_label.text() == f"saved {png}", timeout=30_000)
    with Image.open(png) as saved:
        width, height = view.sheet.image.size
        assert saved.size == (width, height + legend_height(width))
    view.state.select_tile(7)  # block 3, head 2
    wait_map(qtbot, view)
    assert window.map_controls.view.currentIndex() == VIEW_SINGLE and view.state.method.name == "head"
    assert (window.map_controls.block.value(), window.map_controls.head.currentIndex()) == (3, 1)
    np.testing.assert_allclose(view.current_map, view.prediction.map(MapSpec("head", block=2, head=1)))


def test_a_click_on_the_atlas_picture_finds_the_tile_under_it(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    window.map_controls.view.setCurrentIndex(VIEW_ATLAS)
    qtbot.waitUntil(lambda: not view.computing and view.tile_count() == 12, timeout=30_000)
    sheet_view = view.sheet_view
    sheet_view.zoom(2.0)
    left, top, right, bottom = view.sheet.cells[5]  # block 2, head 3
    shown = sheet_view.label.pixmap()
    scale = shown.width() / sheet_view.pixmap.width()
    offset_x = (sheet_view.label.width() - shown.width()) / 2
    offset_y = (sheet_view.label.height() - shown.height()) / 2
    clicked = []
    sheet_view.tile_clicked.connect(clicked.append)
    sheet_view._on_click(offset_x + (left + right) / 2 * scale, offset_y + (top + bottom) / 2 * scale)
    sheet_view._on_click(offset_x + 1, offset_y + 1)  # the corner: a label, no tile
    assert clicked == [5]


def test_compare_shows_the_photo_left_of_the_line_and_the_map_right_as_its_words_say(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    window.map_controls.opacity.setValue(100)
    wait_map(qtbot, view)
    photo, covered = (np.asarray(p.convert("RGB"), np.int16) for p in view._fitted)
    view.compare.setValue(50)  # the slider reads "photo" at its left end, "map" at its right
    shown = view.canvas.pixmap().toImage()
    width = shown.width()
    assert width == photo.shape[1]
    shown_array = np.array([[[shown.pixelColor(x, y).red(), shown.pixelColor(x, y).green(), shown.pixelColor(x, y).blue()]
                             for x in range(width)] for y in range(0, photo.shape[0], 7)], np.int16)
    rows = photo[::7]
    different = np.abs(rows - covered[::7]).sum(axis=2) > 60  # where the map visibly covers the photo
    left, right = np.zeros_like(different), np.zeros_like(different)
    left[:, : width // 2 - 2], right[:, width // 2 + 2 :] = True, True
    assert (different & left).sum() > 20 and (different & right).sum() > 20  # a test that can fail
    assert (shown_array[different & left] == rows[different & left]).all()  # left: the photo
    assert (shown_array[different & right] == covered[::7][different & right]).all()  # right: the map


def test_help_page_explains_with_pictures_that_exist(qtbot):
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    from vit_gui.gui.help import PAGE, HelpDialog

    dialog = HelpDialog()
    qtbot.addWidget(dialog)
    names = [part.split('"', 1)[0] for part in PAGE.split('<img src="')[1:]]
    assert len(names) >= 5
    for name in names:
        image = dialog.browser.document().resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
        assert image is not None and not image.isNull(), name


def test_a_map_that_arrives_after_the_user_moved_on_is_kept_but_not_drawn(qtbot, window, photo_folder):
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    key = key_of(window, "coffee.png")
    window.on_class_clicked(key, window.session.records[key].top[2].index)  # evidence asked, not back yet
    assert view.current_map is None
    stale_spec = MapSpec("block", block=1)
    stale = view.prediction.map(stale_spec)
    view._on_job_done(0, ("map", view.prediction, stale_spec, stale, None, None), "")  # the earlier request's answer
    assert view.current_map is None and view.state.method.name == "class"  # not drawn over the class the user chose
    assert view._memo[1] == stale_spec  # kept: going back to it needs no recompute


def test_the_empty_window_says_how_to_get_classes_while_the_model_has_none(qtbot, tmp_path, tiny_checkpoint):
    import torch as torch_

    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    torch_.manual_seed(0)
    backbone = write_safetensors(tmp_path / "backbone.safetensors",
                                 VisionTransformer(embed_dim=192, depth=1, num_heads=3, num_classes=0).state_dict())
    window = make_window(qtbot, tmp_path / "s.ini", backbone)
    hint = window.drop_hint
    assert not hint.no_classes.isHidden() and "teach it your own classes" in hint.no_classes.text()
    window.models.add_file(str(tiny_checkpoint))
    qtbot.waitUntil(lambda: window.models.info is not None and window.models.info.architecture.num_classes == 10,
                    timeout=30_000)
    assert hint.no_classes.isHidden() and hint.class_buttons.isHidden()
    window.close()


def test_small_things_a_four_class_model_the_last_layer_first_and_no_stray_legend(qtbot, tmp_path, photo_folder):
    from conftest import make_hf_vit, write_checkpoint

    four = write_checkpoint(make_hf_vit("ViT-Ti/16", depth=3, num_labels=4, scale=2.0), tmp_path,
                            sidecar={"num_heads": 3, "labels": ["a", "b", "c", "d"]})
    window = make_window(qtbot, tmp_path / "s.ini", four)
    assert window.top_k.maximum() == 4 and window.top_k.value() == 4  # not 5 of a 4-class model
    assert window.settings.top_k == 5  # the user's own choice is kept for the next model
    view = window.map_view
    assert window.map_controls.block.value() == 3  # one layer, and every head of one, open on the last layer
    drop(window, paths=[photo_folder / "coffee.png"])
    view.state.change(method="class")  # a class map still on its way: no colours on screen, so no legend
    assert view.legend.isHidden() or view.current_map is not None
    wait_idle(qtbot, window)
    window.close()


def test_an_unexpected_error_costs_its_group_not_the_batch(qtbot, window, photo_folder, monkeypatch):
    """A bug in the worker (here: decoding raises a TypeError) used to end run_batch without
    batch_finished: the window stayed busy for ever. Now the image says what went wrong, the
    others of its group are classified, and the batch ends."""
    original = window.worker._load

    def load(source):
        if str(source).endswith("coffee.png"):
            raise TypeError("a bug")
        return original(source)

    monkeypatch.setattr(window.worker, "_load", load)
    drop(window, paths=[photo_folder / "coffee.png", photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    coffee = window.session.records[key_of(window, "coffee.png")]
    chelsea = window.session.records[key_of(window, "chelsea.jpg")]
    assert coffee.error == "unexpected error: a bug"
    assert chelsea.error is None and chelsea.top


def test_a_new_results_map_is_blended_off_the_gui_thread(qtbot, window, photo_folder, monkeypatch):
    """Fitting the photo to the canvas and blending the map over it took the GUI thread up to
    ~90 ms per drawn map (the window's longest stalls during a batch): the map thread does it."""
    import threading

    import vit_gui.explain.overlay as overlay_module

    threads = []
    original = overlay_module.overlay

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(overlay_module, "overlay", recorded)
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    wait_map(qtbot, window.map_view)
    qtbot.wait(200)  # any redraw after the layout settled
    assert threads and not any(threads)
    assert window.map_view.canvas.pixmap() is not None and not window.map_view.canvas.pixmap().isNull()


def test_a_folder_of_thousands_joins_the_list_in_slices_in_order_and_stops_wrapping(qtbot, window, photo_folder,
                                                                                    tmp_path, monkeypatch):
    """10,000 photos held the window ~0.9 s at the drop: the whole folder walked at once, one
    insert per row, and word wrap re-measuring every row. The folder is now walked in slices
    of WALK_SLICE_S with the event loop running between them, each slice's rows go in with one
    insertion, and a long list elides names instead of wrapping; every photo is listed, in
    order, each once, and results still show."""
    import vit_gui.gui.window_input as window_input
    from vit_gui.gui.results import WRAP_LIMIT

    folder = tmp_path / "many"
    folder.mkdir()
    count = WRAP_LIMIT + 200
    for i in range(count):
        shutil.copy(photo_folder / "coffee.png", folder / f"photo-{i:05d}.png")
    monkeypatch.setattr(window_input, "WALK_SLICE_S", 0.0)  # a slow disk: every photo its own slice
    inserts, slices = [], []
    original = window.results.addTopLevelItem
    window.results.addTopLevelItem = lambda item: (inserts.append(item), original(item))
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: slices.append(window.results.topLevelItemCount()))
    heartbeat.start(0)
    first = window.intake.add_paths([folder], classify=False)
    assert 0 < len(first) < count and window.batches.is_busy()  # the rest comes after the event loop has run
    qtbot.waitUntil(lambda: not window.batches.is_busy(), timeout=60_000)
    heartbeat.stop()
    assert window.results.topLevelItemCount() == count and not inserts
    assert [window.session.records[k].name for k in window.results.keys()] == [f"photo-{i:05d}.png" for i in range(count)]
    assert len(set(slices)) > 10  # the window ran between slices
    assert not window.results.wordWrap()
    keys = window.results.keys()
    window.batches.classify(keys[-2:])
    wait_idle(qtbot, window)
    assert "waiting" not in window.results.item_text(keys[-1]) and window.session.records[keys[-1]].top
    window.results.clear_results()
    assert window.results.wordWrap()


def test_cancel_stops_a_folder_still_being_walked(qtbot, window, photo_folder, tmp_path, monkeypatch):
    import vit_gui.gui.window_input as window_input

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        shutil.copy(photo_folder / "coffee.png", folder / f"photo-{i:05d}.png")
    monkeypatch.setattr(window_input, "WALK_SLICE_S", 0.0)
    monkeypatch.setattr(window_input, "WALK_BATCH", 10_000)  # found photos held back for a batch
    window.intake.add_paths([folder])
    qtbot.wait(50)
    window.batches.cancel()
    qtbot.wait(100)
    listed = window.results.keys()
    assert not window.batches.is_busy() and 0 < len(listed) < 300
    assert all(window.session.records[k].error == CANCELLED for k in listed)


def test_freed_memory_goes_back_to_the_system_at_most_every_interval():
    import sys

    from vit_gui.freed_memory import release_freed_memory

    trims_here = sys.platform.startswith("linux")
    assert release_freed_memory(force=True) is trims_here
    assert release_freed_memory() is False  # within TRIM_INTERVAL_S of the last trim


def test_maps_of_a_class_are_not_offered_by_a_model_without_classes(qtbot, tmp_path, tiny_checkpoint):
    """Issue #29, item 9: class evidence, Grad-CAM and LeGrad were offered on a backbone and
    showed nothing; now they are greyed out with the reason, and a chosen one gives way."""
    import torch as torch_

    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    controls = window.map_controls
    controls.state.change(method="gradcam")  # chosen while a classifier is loaded
    torch_.manual_seed(0)
    backbone = write_safetensors(tmp_path / "backbone.safetensors",
                                 VisionTransformer(embed_dim=192, depth=1, num_heads=3, num_classes=0).state_dict())
    window.models.add_file(str(backbone))
    qtbot.waitUntil(lambda: window.models.info is not None and window.models.info.architecture.is_backbone,
                    timeout=30_000)
    items = {controls.mode.itemData(i): controls.mode.model().item(i) for i in range(controls.mode.count())}
    assert [name for name, item in items.items() if not item.isEnabled()] == ["class", "gradcam", "legrad"]
    assert "no classes yet" in items["legrad"].toolTip() and controls.method.name == "rollout"
    window.models.add_file(str(tiny_checkpoint))  # a classifier again: offered again
    qtbot.waitUntil(lambda: window.models.info is not None and not window.models.info.architecture.is_backbone,
                    timeout=30_000)
    assert all(item.isEnabled() for item in items.values())
    window.close()


def test_the_model_panel_says_the_plain_things_first_and_the_details_on_request(qtbot, tmp_path, tiny_checkpoint):
    from gui_helpers import make_window

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    panel = window.model_panel
    summary = panel.status.text()
    assert "knows 10 classes" in summary and "runs on CPU, exactly" in summary
    assert "layers ×" not in summary and "heads" not in summary  # the shape is a detail
    assert not panel.details.isVisible() and panel.details_button.isVisible()
    panel.details_button.click()
    assert panel.details.isVisible() and "layers × 3 heads" in panel.details.text()
    panel.details_button.click()
    assert not panel.details.isVisible()


def test_check_window_show_map_of_another_class_redraws(qtbot, tmp_path, tiny_checkpoint, photo_folder):
    """Check window > the class-evidence row of another class than the one drawn: the map
    shown must become that class's, and its verdict must stand beside it, never beside the
    previous class's map (a red-team's finding in the redesign: only the class moved, so the
    state told no one)."""
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    drop(window, paths=[photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    key = window.results.current_key()
    top, second = (t.index for t in window.session.records[key].top[:2])
    window.results.click_class(key, second)
    qtbot.waitUntil(lambda: view.has_class_map(second) and view.current_map is not None, timeout=30_000)
    qtbot.wait(1500)
    seen = []
    view.state.subscribe(seen.append)
    window.checks.on_show_map(MapSpec("class", class_index=top))  # as the check window's table does
    qtbot.wait(1500)
    view.show_verdict(MapSpec("class", class_index=top), "Checked: faithful")  # the score of the row chosen
    assert not (view.check_result.text() and view.map_spec_shown != view.spec()), \
        f"verdict {view.check_result.text()!r} beside {view.map_spec_shown}, state says {view.spec()}"
    assert view.spec() == MapSpec("class", class_index=top)
    assert view.map_spec_shown == view.spec(), f"drawn: {view.map_spec_shown}, state: {view.spec()}"
    window.close()


def test_a_new_models_shape_never_draws_the_old_models_photo(qtbot, tmp_path,
                                                                                tiny_checkpoint, photo_folder):
    """Between a new model's loading and its result for the photo shown, that photo's
    prediction is the old model's: drawing it with the new model's blocks failed ("index 0 is
    out of bounds"), a red-team's finding in the redesign (the old view never redrew there)."""
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    drop(window, paths=[photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    view = window.map_view
    view.state.change(method="block")
    wait_map(qtbot, view)
    view.set_model_shape(12, 3)  # what on_model_loaded does for a 12-block model
    qtbot.wait(1500)
    assert "could not compute" not in view.caption.text(), view.caption.text()
    window.close()


def test_a_failed_photo_shown_after_tiles_saves_nothing_of_the_photo_before(qtbot, window, photo_folder, tmp_path):
    """In a tile view, a photo that failed to open clears the view: Save as PNG must not write
    the previous photo's tiles under its name (a red-team's finding)."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    drop(window, paths=[photo_folder / "coffee.png", broken])
    wait_idle(qtbot, window)
    view = window.map_view
    wait_map(qtbot, view)
    window.map_controls.view.setCurrentIndex(VIEW_BLOCKS)
    wait_map(qtbot, view)
    assert view.export_recipe(legend=False) is not None
    failed = next(key for key in window.results.keys() if window.session.records[key].error)
    window.results.select_key(failed)
    assert view.export_recipe(legend=False) is None


def test_an_idle_window_keeps_no_pooled_attention_memory(qtbot, window, photo_folder, monkeypatch):
    """Attention memory is reused from group to group (model/buffer_pool.py), and let go when
    the run ends: a window left open holds none of it."""
    from vit_gui.model import buffer_pool

    monkeypatch.setattr(buffer_pool, "MIN_POOLED_BYTES", 0)  # the tiny model's attentions pooled too
    pool, handed_out, real_empty = buffer_pool.ATTENTIONS, [], buffer_pool.ATTENTIONS.empty
    monkeypatch.setattr(pool, "empty", lambda *args: handed_out.append(args) or real_empty(*args))
    drop(window, paths=[photo_folder])
    wait_idle(qtbot, window)
    assert handed_out and pool.idle_bytes() == 0

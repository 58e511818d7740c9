"""Two models side by side in the window (issue #31 item 2): Model > Compare with another
model… on the photos in the list, two map views with one set of settings and one zoom, the
photos where the models disagree first, and the folder's summary equal to `vit-gui compare`'s."""

from pathlib import Path

import numpy as np
from gui_helpers import answer_next_dialog, drop, make_window, wait_idle, wait_map
from PIL import Image
from test_compare import swapped  # noqa: F401 - the fixture: model B is A with two classes swapped

from vit_gui.explain.maps import MapSpec
from vit_gui.map_state import MapState


def test_zoomed_pictures_are_the_whole_photos_overlay_cropped():
    """The zoomed map is drawn through a geometry moved into the shown part: it must equal the
    whole photo's overlay at twice the size, cropped (a re-derivation, opacity 1: colours only)."""
    from vit_gui.explain.overlay import overlay
    from vit_gui.map_pictures import fit_and_cover
    from vit_gui.preprocess import Geometry

    class Prediction:
        geometry = Geometry((400, 200), (28, 28), (40.0, 0.0, 240.0, 200.0))  # a crop of the left part

    grid = np.random.default_rng(0).random((4, 4))
    state = MapState()
    state.photo, state.prediction = Image.new("RGB", (200, 100), (90, 120, 30)), Prediction()
    state.change(opacity=1.0, zoom=2.0, centre=(0.4, 0.5))
    photo, covered = fit_and_cover(state, (200, 100))(grid)
    whole = overlay(state.photo, grid, Prediction.geometry, state.settings.colormap, 1.0, size=(400, 200))
    expected = np.asarray(whole.crop((60, 50, 260, 150)), np.int16)  # centre 0.4 of 400 px: 160 ± 100
    assert photo.size == covered.size == (200, 100)
    assert np.abs(np.asarray(covered, np.int16) - expected).max() <= 3


def open_compare(qtbot, tmp_path, tiny_checkpoint, b, folder):
    """The main window on model A with the folder's photos, compared with B through the menu."""
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    window.settings.add_recent("added_models", str(b))
    drop(window, paths=[folder])
    wait_idle(qtbot, window)
    answer_next_dialog("swapped  (b.pth)")  # the input dialog's list names each model and its file
    window.comparing.choose_model()
    assert len(window.comparing.windows) == 1
    assert window.settings.paths("compared_models") == [str(b)]  # offered again next time
    compare = window.comparing.windows[0]
    qtbot.waitUntil(lambda: not compare.busy, timeout=60_000)
    return window, compare


def test_two_models_side_by_side_disagreements_first_with_one_set_of_settings(qtbot, tmp_path, tiny_checkpoint,
                                                                             swapped):  # noqa: F811
    from vit_gui.cli.compare import compare_photos
    from vit_gui.explain.agreement import summarise
    from vit_gui.gui.compare_parts import agreement_words
    from vit_gui.predict import Predictor

    folder, b, changed = swapped
    window, compare = open_compare(qtbot, tmp_path, tiny_checkpoint, b, folder)
    paths = sorted(folder.iterdir())
    # both have classes: compared by each one's evidence for its own top class, as `compare --map class`
    expected = compare_photos(Predictor.from_file(tiny_checkpoint), Predictor.from_file(b), paths, "class")
    assert compare.kind == "class" and compare.summary.text() == agreement_words(summarise(expected), "class")[0]
    assert [side.view.state.settings.method for side in compare.sides] == ["class", "class"]  # what is listed
    assert compare.summary.text().startswith(f"Same top class on {4 - len(changed)} of 4 photos")
    listed = [Path(compare.photo_list.topLevelItem(i).data(0, 0x100)).stem
              for i in range(compare.photo_list.topLevelItemCount())]
    assert set(listed[:len(changed)]) == changed  # the disagreements first

    side_a, side_b = compare.sides
    qtbot.waitUntil(lambda: side_a.view.current_map is not None and side_b.view.current_map is not None,
                    timeout=30_000)
    shown = Path(compare.shown_path).stem
    assert shown in changed and side_a.buttons[0].text() != side_b.buttons[0].text()
    assert compare.photo_title.text() == Path(compare.shown_path).name
    assert side_a.title.text() == "A: tiny" and side_b.title.text() == "B: swapped"

    compare.controls.colormap.setCurrentText("gray")  # one set of controls moves both
    compare.controls.block.setValue(2)
    assert side_b.view.state.settings.colormap == "gray" and side_b.view.state.settings.block == 1
    side_b.view.state.zoom_at(2.0, at=(0.25, 0.25))  # zoomed on B's photo: A zooms with it
    assert side_a.view.state.settings.zoom == 2.0 and side_a.view.state.settings.centre == \
        side_b.view.state.settings.centre
    wait_map(qtbot, side_a.view)

    compare.controls.mode.setCurrentIndex(compare.controls.mode.findData("rollout"))
    wait_map(qtbot, side_b.view)
    assert side_b.view.map_spec_shown.kind == "rollout"  # the switch reached B
    assert compare.map_note.isVisibleTo(compare) and "numbers are for the evidence maps" in compare.map_note.text()
    compare.controls.mode.setCurrentIndex(compare.controls.mode.findData("class"))  # each its own top class
    qtbot.waitUntil(lambda: all(side.view.spec() in side.view.state.class_maps for side in compare.sides),
                    timeout=30_000)
    specs = [side.view.spec() for side in compare.sides]
    assert specs[0].kind == specs[1].kind == "class" and specs[0].class_index != specs[1].class_index
    wait_map(qtbot, side_a.view)
    np.testing.assert_allclose(side_a.view.state.class_maps[specs[0]],
                               Predictor.from_file(tiny_checkpoint).class_map(
                                   Image.open(compare.shown_path).convert("RGB"), specs[0].class_index)[0],
                               atol=1e-5)
    assert MapSpec("class", class_index=specs[1].class_index) == specs[1]
    assert not compare.map_note.isVisibleTo(compare)  # the maps shown are the ones the numbers are of

    label_b = side_b.buttons[0].text().rsplit(" ", 1)[0]  # B's top class, clicked under B: both show it
    side_b.buttons[0].click()
    names = [side.view.state.class_label() for side in compare.sides]
    assert names == [label_b, label_b] and side_a.view.spec().class_index != specs[0].class_index
    qtbot.waitUntil(lambda: all(side.view.spec() in side.view.state.class_maps for side in compare.sides),
                    timeout=30_000)
    compare.close()
    window.close()


def test_cancel_while_the_models_load_is_kept(qtbot, tmp_path, tiny_checkpoint, swapped):  # noqa: F811
    from vit_gui.gui.compare_window import CompareWindow

    folder, b, _ = swapped
    compare = CompareWindow(str(tiny_checkpoint), str(b), "cpu", [str(folder)])
    qtbot.addWidget(compare)
    compare.start()
    compare.on_cancel()  # pressed before the run began
    qtbot.waitUntil(lambda: not compare.busy, timeout=60_000)
    assert compare.rows == [] and "cancelled" in compare.summary.text()
    compare.close()


def _checkpoint(tmp_path, name, depth, sidecar_extra=None):
    from conftest import make_hf_vit, write_checkpoint
    model = make_hf_vit("ViT-Ti/16", depth=depth, num_labels=10, scale=3.0)
    folder = tmp_path / name
    folder.mkdir()
    sidecar = {"num_heads": 3, "labels": [f"label {i}" for i in range(10)], "name": name}
    sidecar.update(sidecar_extra or {})
    return write_checkpoint(model, folder, name=f"{name}.pth", sidecar=sidecar)


def compared_on_chelsea(qtbot, tmp_path, photos, a, b):
    """A compare window of `a` beside `b` on one real photo, once it has run to the end."""
    from vit_gui.gui.compare_window import CompareWindow

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(photos["chelsea"]).save(folder / "chelsea.png")
    compare = CompareWindow(str(a), str(b), "cpu", [str(folder)])
    qtbot.addWidget(compare)
    compare.start()
    qtbot.waitUntil(lambda: not compare.busy, timeout=60_000)
    return compare


def test_compare_deeper_model_a_opens_on_its_own_last_block_and_start_block(qtbot, tmp_path, photos):
    a = _checkpoint(tmp_path, "deep", 4, {"rollout_start_block": 2})
    compare = compared_on_chelsea(qtbot, tmp_path, photos, a, _checkpoint(tmp_path, "shallow", 2))
    state_a = compare.states[0]
    assert (state_a.depth, state_a.settings.block, state_a.settings.start_block) == (4, 3, 1), \
        f"A: depth {state_a.depth}, block {state_a.settings.block + 1}, start block {state_a.settings.start_block + 1}"
    compare.close()


def test_the_controls_range_over_the_model_that_offers_more(qtbot, tmp_path, photos, tiny_checkpoint):
    """A shallow backbone as A beside a deeper classifier as B: the controls follow B's blocks
    and offer its class maps (bound to A they could not reach either: a red-team's finding)."""
    import torch

    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    torch.manual_seed(0)
    a = write_safetensors(tmp_path / "backbone.safetensors",
                          VisionTransformer(embed_dim=192, depth=2, num_heads=3, num_classes=0).state_dict())
    compare = compared_on_chelsea(qtbot, tmp_path, photos, a, tiny_checkpoint)
    assert compare.rows, compare.summary.text()
    assert compare.controls.state is compare.states[1] and compare.controls.block.maximum() == 4
    compare.controls.mode.setCurrentIndex(compare.controls.mode.findData("class"))
    assert compare.states[1].settings.method == "class"
    compare.close()


def test_a_model_beside_its_own_int8(qtbot, tmp_path, tiny_checkpoint, photo_folder):
    """Model > Compare with… > "The same model in int8": B is A quantised (the worker loads A
    in float32 and B in int8, as chosen), named so; the maps are kept (int8 keeps them)."""
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    drop(window, paths=[photo_folder])
    wait_idle(qtbot, window)
    answer_next_dialog("The same model in int8 (smaller and faster on a CPU; does it see the same?)")
    window.comparing.choose_model()
    compare = window.comparing.windows[0]
    qtbot.waitUntil(lambda: not compare.busy, timeout=60_000)
    assert compare.sides[1].title.text() == "B: tiny (int8)" and compare.sides[0].title.text() == "A: tiny (float32)"
    assert compare.worker.models["b"].precision.name == "int8" and compare.worker.models["a"].precision.name == \
        "float32"
    assert compare.rows and all(row.maps is not None and row.maps > 0.9 for row in compare.rows)
    assert window.settings.paths("compared_models") == []  # the loaded model itself is not remembered as another
    compare.close()
    window.close()

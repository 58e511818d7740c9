"""Issue #29, item 7: defaults by paired evidence. Class evidence was ahead of the rollout on
a taught probe's planted known answers (benchmarks/results/planted-checks.md), so a taught
model opens on class evidence for each photo's top class, in the window and on the command
line (`default_map` in its sidecar); other models keep the rollout. Each test failed before:
there was no `default_map`."""

import json

import pytest

from vit_gui.errors import VitGuiError
from vit_gui.predict import Predictor


def with_sidecar(checkpoint, **keys):
    sidecar = checkpoint.with_name(checkpoint.name + ".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **keys}))
    return checkpoint


def test_a_taught_model_says_class_evidence_is_shown_first(tmp_path, tiny_checkpoint):
    from vit_gui.teach.save import taught_sidecar

    info = Predictor.from_file(tiny_checkpoint).info
    assert info.default_map == "rollout"  # a model from elsewhere keeps the rollout
    assert taught_sidecar(tiny_checkpoint, info, "digest", ["a", "b"], {}, "mine")["default_map"] == "class"
    assert Predictor.from_file(with_sidecar(tiny_checkpoint, default_map="class")).info.default_map == "class"


def test_a_default_map_the_app_cannot_show_first_is_refused_by_name(tiny_checkpoint):
    with pytest.raises(VitGuiError, match="default_map"):
        Predictor.from_file(with_sidecar(tiny_checkpoint, default_map="gradcam2"))


def test_the_window_opens_a_taught_model_on_the_top_classs_evidence(qtbot, tmp_path, tiny_checkpoint, photo_folder):
    from gui_helpers import drop, make_window, wait_idle

    window = make_window(qtbot, tmp_path / "s.ini", with_sidecar(tiny_checkpoint, default_map="class"))
    drop(window, paths=[photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    view = window.map_view
    qtbot.waitUntil(lambda: view.map_spec_shown is not None and view.current_map is not None, timeout=60_000)
    top = view.prediction.top[0].index
    assert view.state.method.name == "class" and view.map_spec_shown.kind == "class"
    assert view.map_spec_shown.class_index == top


def test_the_command_line_writes_a_taught_models_class_evidence(tmp_path, tiny_checkpoint, photo_folder, capsys):
    from vit_gui.cli import main

    model = with_sidecar(tiny_checkpoint, default_map="class")
    assert main(["classify", str(photo_folder / "coffee.png"), "--model", str(model), "--maps", str(tmp_path / "m"),
                 "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    assert record["maps"]["kind"].startswith("class"), record["maps"]
    assert main(["classify", str(photo_folder / "coffee.png"), "--model", str(model), "--maps", str(tmp_path / "n"),
                 "--layer", "2", "--format", "json"]) == 0  # a map option given: the map it implies
    assert json.loads(capsys.readouterr().out)[0]["maps"]["kind"].startswith("block")

"""Hostile inputs, round three: malformed Hugging Face model folders (items 1, 2 and the
config messages of 15). Each case failed on the code before its fix: a traceback (exit 1)
for `models list` and `classify`, an empty model list in the window, gigabytes for an
86-byte id2label."""

import json
import resource

import pytest
from conftest import make_hf_vit
from gui_helpers import make_window, wait_model

from vit_gui.cli import main
from vit_gui.errors import ModelConfigError
from vit_gui.model import catalog
from vit_gui.model.checkpoints import load_model


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A small Hugging Face ViT folder as save_pretrained writes it (64 px, 2 classes)."""
    model = make_hf_vit("ViT-Ti/16", depth=2, image_size=64, num_labels=2, scale=2.0)
    model.config.id2label = {0: "cat", 1: "dog"}
    folder = tmp_path_factory.mktemp("hub") / "good-vit"
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"do_resize": True, "size": {"height": 64, "width": 64}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    return folder


def copy_folder(source, target, config=None, preprocessor=None, raw_preprocessor=None):
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes())
    facts = json.loads((source / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**facts, **(config or {})}))
    prep = json.loads((source / "preprocessor_config.json").read_text())
    text = raw_preprocessor if raw_preprocessor is not None else json.dumps({**prep, **(preprocessor or {})})
    (target / "preprocessor_config.json").write_text(text)
    return target


# every way the issue found to break discovery, and the key the message must name
MALFORMED = {
    "size-0": (dict(preprocessor={"size": 0}), "preprocessor_config.json: 'size'"),
    "shortest-edge-0": (dict(preprocessor={"size": {"shortest_edge": 0}}), "'size' shortest_edge"),
    "height-width-0-crop": (dict(preprocessor={"size": {"height": 0, "width": 0}, "do_center_crop": True,
                                               "crop_size": {"height": 0, "width": 0}}), "'size' height"),
    "height-null": (dict(preprocessor={"size": {"height": None, "width": 64}}), "'size' height"),
    "height-infinity": (dict(raw_preprocessor='{"size": {"height": Infinity, "width": 64}}'), "'size' height"),
    "height-abc": (dict(preprocessor={"size": {"height": "abc", "width": 64}}), "preprocessor_config.json: 'size' height"),
    "hidden-act-list": (dict(config={"hidden_act": ["gelu"]}), "config.json: 'hidden_act' ['gelu'] is not a GELU"),
    "resample-list": (dict(preprocessor={"resample": [2]}), None),  # ignored, as an unknown filter number is
    "do-resize-string": (dict(preprocessor={"do_resize": "no"}), "'do_resize' must be true or false"),
    "id2label-negative": (dict(config={"id2label": {"-1": "cat"}}), "'id2label' must map class numbers"),
    "id2label-5000-digits": (dict(raw_preprocessor=None, config={"id2label": {"1" * 5000: "cat"}}), "id2label"),
    "crop-larger": (dict(preprocessor={"do_center_crop": True, "crop_size": 4000}), "'crop_size' 4000x4000 is larger"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_folder_is_a_named_error_with_exit_2(case, hf_folder, tmp_path, photo_folder, capsys):
    change, message = MALFORMED[case]
    folder = copy_folder(hf_folder, tmp_path / case, **change)
    code = main(["classify", str(photo_folder / "chelsea.jpg"), "--model", str(folder)])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0, err
        return
    assert code == 2 and "Traceback" not in err, err
    assert message in err
    with pytest.raises(ModelConfigError, match="^(config|preprocessor_config).json: "):
        load_model(folder)


def test_one_malformed_folder_does_not_hide_the_good_models(hf_folder, private_data_dir, tmp_path, monkeypatch,
                                                            photo_folder, capsys):
    monkeypatch.setattr(catalog, "model_data_dir", lambda: tmp_path / "no-shipped-models")
    models = private_data_dir / "models"
    good = copy_folder(hf_folder, models / "good")
    for case in ("size-0", "height-null", "height-infinity", "hidden-act-list", "shortest-edge-0"):
        copy_folder(hf_folder, models / f"a-{case}", **MALFORMED[case][0])  # sorted before "good"
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("cannot be used: ") == 5 and "hidden_act" in listing and str(good) in listing
    assert catalog.default_model_path() == good
    code = main(["classify", str(photo_folder / "chelsea.jpg")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)[0]["top"][0]["label"] in ("cat", "dog")


def test_the_window_offers_the_good_models_and_greys_the_broken_one(qtbot, hf_folder, private_data_dir, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr(catalog, "model_data_dir", lambda: tmp_path / "no-shipped-models")
    models = private_data_dir / "models"
    good = copy_folder(hf_folder, models / "good")
    bad = copy_folder(hf_folder, models / "a-bad", preprocessor={"size": 0})
    window = make_window(qtbot, tmp_path / "settings.ini")
    wait_model(qtbot, window)
    assert window.models.loaded == str(good)
    box = window.model_panel.models
    index = box.findData(str(bad))
    assert index >= 0 and not box.model().item(index).isEnabled()
    assert "size&#x27; must be a whole number" in box.itemData(index, 3)  # the reason, as its tooltip (escaped)


def test_an_id2label_naming_class_400_million_costs_no_memory(hf_folder, tmp_path, photo_folder, capsys):
    folder = copy_folder(hf_folder, tmp_path / "bomb", config={"id2label": {"0": "cat", "400000000": "dog"}})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = load_model(folder).info
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200  # the list it used to build was 3.2 GB
    assert info.labels == ("cat", "")
    assert any("400,000,000" in w and "ignored" in w for w in info.warnings)
    folder = copy_folder(hf_folder, tmp_path / "bomb-3e9", config={"id2label": {"0": "cat", "3000000000": "dog"}})
    assert main(["classify", str(photo_folder / "chelsea.jpg"), "--model", str(folder)]) == 0
    assert "3,000,000,000" in capsys.readouterr().err


def test_preprocessor_values_are_blamed_on_the_preprocessor_file(hf_folder, tmp_path):
    folder = copy_folder(hf_folder, tmp_path / "std", preprocessor={"image_std": [0, 0, 0]})
    with pytest.raises(ModelConfigError, match=r"^preprocessor_config.json: 'image_std' must be three numbers"):
        load_model(folder)
    folder = copy_folder(hf_folder, tmp_path / "heads", config={"num_attention_heads": 5})
    with pytest.raises(ModelConfigError, match=r"^config.json: 'num_attention_heads' 5 does not divide"):
        load_model(folder)
    folder = copy_folder(hf_folder, tmp_path / "crop", preprocessor={"do_center_crop": True, "crop_size": 4000})
    with pytest.raises(ModelConfigError, match="'crop_size' 4000x4000 is larger") as caught:
        load_model(folder)
    assert "crop_pct" not in str(caught.value)  # a key the user never wrote

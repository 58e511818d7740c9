"""Number formats: int8 really quantises our linear layers, bfloat16 runs, `auto` keeps a
format only when it agrees with float32 and is faster, and every choice says why."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import vit_gui.model.precision as fmt
from vit_gui.cli import main
from vit_gui.errors import ModelConfigError
from vit_gui.model.checkpoints import load_model
from vit_gui.predict import Predictor


def cosine(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


def test_int8_quantises_every_linear_layer_and_agrees(tiny_checkpoint, photos):
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

    from vit_gui.model.vit import Linear

    reference = Predictor.from_file(tiny_checkpoint)
    linears = sum(isinstance(m, Linear) for m in reference.model.modules())
    quantised = Predictor.from_file(tiny_checkpoint, precision="int8")
    assert quantised.precision.name == "int8" and "cosine" in quantised.precision.reason
    assert sum(isinstance(m, QuantizedLinear) for m in quantised.model.modules()) == linears > 0
    image = Image.fromarray(photos["coffee"])
    ours, theirs = quantised.predict([image], with_attentions=True)[0], reference.predict([image], with_attentions=True)[0]
    assert cosine(ours.features, theirs.features) > 0.98
    assert np.corrcoef(ours.map().ravel(), theirs.map().ravel())[0, 1] > 0.9
    with pytest.raises(ValueError, match="int8 layers do not have"):
        quantised.class_map(image, 1)


def test_bfloat16_runs_and_says_how_close_it_is(tiny_checkpoint, photos):
    model = Predictor.from_file(tiny_checkpoint, precision="bfloat16")
    assert model.precision.name == "bfloat16" and next(model.model.parameters()).dtype == torch.bfloat16
    image = Image.fromarray(photos["chelsea"])
    got = model.predict([image], with_attentions=True)[0]
    assert got.attentions.dtype == torch.float32 and np.isfinite(got.map()).all()  # maps from float attentions
    assert cosine(got.features, Predictor.from_file(tiny_checkpoint).predict([image])[0].features) > 0.99


@pytest.mark.parametrize("speed, agreement_needed, expected", [
    (0.5, 0.9, "bfloat16"),  # faster and agrees: kept
    (1.5, 0.9, "float32"),  # slower (a bf16 flag without AMX): not kept
    (0.5, 1.01, "float32"),  # faster but does not agree well enough: not kept
])
def test_auto_keeps_a_format_only_when_it_agrees_and_is_faster(tiny_checkpoint, monkeypatch, speed, agreement_needed,
                                                               expected):
    monkeypatch.setattr(fmt, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(fmt, "AGREEMENT", agreement_needed)
    original = fmt.timed_features

    def timed(model, pixels):
        features, _ = original(model, pixels)
        return features, speed if pixels.dtype == torch.bfloat16 else 1.0

    monkeypatch.setattr(fmt, "timed_features", timed)
    chosen = Predictor.from_file(tiny_checkpoint, precision="auto").precision
    assert chosen.name == expected and chosen.reason.startswith("auto:")
    assert chosen.agreement is not None


def test_formats_a_device_cannot_run_are_refused(tiny_checkpoint):
    with pytest.raises(ValueError, match="float16 is for CUDA"):
        Predictor.from_file(tiny_checkpoint, precision="float16")
    with pytest.raises(ValueError, match="precision must be one of"):
        Predictor.from_file(tiny_checkpoint, precision="float8")


def test_sidecar_names_the_models_own_precision(tiny_checkpoint):
    sidecar = tiny_checkpoint.with_name(tiny_checkpoint.name + ".json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "precision": "int8"}))
    assert load_model(tiny_checkpoint).info.precision == "int8"
    assert Predictor.from_file(tiny_checkpoint, precision=None).precision.name == "int8"
    assert Predictor.from_file(tiny_checkpoint).precision.name == "float32"  # the API's default stays exact
    sidecar.write_text(json.dumps({"num_heads": 3, "precision": "fp8"}))
    with pytest.raises(ModelConfigError, match="'precision' must be one of"):
        load_model(tiny_checkpoint)


def test_cli_precision_says_what_runs(capsys, tiny_checkpoint, photo_folder):
    code = main(["classify", str(photo_folder / "chelsea.jpg"), "--model", str(tiny_checkpoint), "--precision", "int8"])
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)[0]["top"] and "runs in int8" in err


def test_model_panel_precision_choice_reloads_and_says_why(qtbot, tmp_path, tiny_checkpoint):
    from gui_helpers import make_window

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    panel = window.model_panel
    panel.set_precision("int8")
    panel.precision_chosen.emit("int8")
    qtbot.waitUntil(lambda: window.loading_model is None and "runs in <b>int8</b>" in panel.status.text(),
                    timeout=30_000)
    assert window.settings.text("precision") == "int8"

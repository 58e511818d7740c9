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


def test_int8_quantises_all_but_query_and_key_and_agrees(tiny_checkpoint, photos):
    from vit_gui.model.int8 import PerPhotoInt8

    reference = Predictor.from_file(tiny_checkpoint)
    blocks = len(reference.model.blocks)
    quantised = Predictor.from_file(tiny_checkpoint, precision="int8")
    assert quantised.precision.name == "int8" and "cosine" in quantised.precision.reason
    # value, attention output, both MLP layers of every block but the first block's first; query/key and the
    # head stay float32
    assert sum(isinstance(m, PerPhotoInt8) for m in quantised.model.modules()) == 4 * blocks - 1
    assert all(not isinstance(b.attn.qkv.qk, PerPhotoInt8) for b in quantised.model.blocks)
    image = Image.fromarray(photos["coffee"])
    ours, theirs = quantised.predict([image], with_attentions=True)[0], reference.predict([image], with_attentions=True)[0]
    assert cosine(ours.features, theirs.features) > 0.99
    assert np.abs(ours.map() - theirs.map()).max() < 0.1  # a tiny random model; the real backbone: 0.05
    assert np.corrcoef(ours.map().ravel(), theirs.map().ravel())[0, 1] > 0.98
    # maps that need gradients run on the float32 model: the same map as float32's
    np.testing.assert_allclose(quantised.class_map(image, 1)[0], reference.class_map(image, 1)[0], atol=1e-6)


def test_bfloat16_runs_and_says_how_close_it_is(tiny_checkpoint, photos):
    model = Predictor.from_file(tiny_checkpoint, precision="bfloat16")
    assert model.precision.name == "bfloat16" and next(model.model.parameters()).dtype == torch.bfloat16
    image = Image.fromarray(photos["chelsea"])
    got = model.predict([image], with_attentions=True)[0]
    assert got.attentions.dtype == torch.float32 and np.isfinite(got.map()).all()  # maps from float attentions
    assert cosine(got.features, Predictor.from_file(tiny_checkpoint).predict([image])[0].features) > 0.99


@pytest.mark.parametrize("bf16_speed, int8_speed, agreement_needed, map_agreement, expected", [
    (0.5, 0.5, 0.9, 1.0, "bfloat16"),  # faster and agrees: kept, int8 not tried
    (1.5, 0.5, 0.9, 1.0, "int8"),  # bfloat16 slower (a bf16 flag without AMX): int8 next
    (1.5, 1.5, 0.9, 1.0, "float32"),  # neither faster
    (0.5, 0.5, 1.01, 1.0, "float32"),  # faster but the features do not agree well enough
    (0.5, 0.5, 0.9, -1.0, "float32"),  # faster but the maps do not agree well enough
])
def test_auto_keeps_a_format_only_when_it_agrees_and_is_faster(tiny_checkpoint, monkeypatch, bf16_speed, int8_speed,
                                                               agreement_needed, map_agreement, expected):
    monkeypatch.setattr(fmt, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(fmt, "AGREEMENT", {"bfloat16": agreement_needed, "int8": agreement_needed})
    monkeypatch.setattr(fmt, "MAP_AGREEMENT", map_agreement)
    original = fmt.timed_features

    def timed(model, pixels, **_options):
        from vit_gui.model.int8 import PerPhotoInt8

        features, _ = original(model, pixels)
        if pixels.dtype == torch.bfloat16:
            return features, bf16_speed
        return features, int8_speed if any(isinstance(m, PerPhotoInt8) for m in model.modules()) else 1.0

    monkeypatch.setattr(fmt, "timed_features", timed)
    chosen = Predictor.from_file(tiny_checkpoint, precision="auto").precision
    assert chosen.name == expected and chosen.reason.startswith("auto:")
    if expected == "float32":
        assert "so float32 runs" in chosen.reason and ("bfloat16" in chosen.reason) and ("int8" in chosen.reason)
    else:
        assert chosen.agreement is not None and "maps within" in chosen.reason


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
    qtbot.waitUntil(lambda: window.models.loading is None and "(int8):" in panel.details.text(),
                    timeout=30_000)
    assert window.settings.text("precision") == "int8"

"""Every accepted checkpoint layout round-trips; hostile and broken files are refused clearly."""

import json
import pickle

import pytest
import torch
from bad_inputs import CreatesAFile
from conftest import hf_reference, make_hf_vit
from safetensors.torch import save_file

from vit_gui.errors import CheckpointError, ModelConfigError
from vit_gui.model.checkpoints import load_model, read_state_dict

SIDECAR = {"num_heads": 3, "layer_norm_eps": 1e-12}  # the epsilon of the reference model (transformers' default)


@pytest.fixture(scope="module")
def hf():
    return make_hf_vit("ViT-Ti/16", depth=3, num_labels=5, seed=11, scale=2.0)


@pytest.fixture(scope="module")
def reference(hf):
    torch.manual_seed(0)
    pixels = torch.randn(2, 3, 224, 224)
    return pixels, hf_reference(hf, pixels)[0]


def hf_v5_state(hf):
    return {k: v.clone() for k, v in hf.state_dict().items()}


def hf_classic_state(hf):
    """transformers 5's names rewritten to the hub's classic ViT names."""
    renames = {
        ".attention.q_proj.": ".attention.attention.query.",
        ".attention.k_proj.": ".attention.attention.key.",
        ".attention.v_proj.": ".attention.attention.value.",
        ".attention.o_proj.": ".attention.output.dense.",
        ".mlp.fc1.": ".intermediate.dense.",
        ".mlp.fc2.": ".output.dense.",
    }
    out = {}
    for key, value in hf_v5_state(hf).items():
        key = key.replace("vit.layers.", "vit.encoder.layer.")
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def timm_state(hf, tmp_path):
    path = tmp_path / "hf.pth"
    torch.save(hf.state_dict(), path)
    return {k: v.clone() for k, v in load_model(path).model.state_dict().items()}


def save(path, obj, sidecar=SIDECAR):
    if path.suffix == ".safetensors":
        save_file(obj, str(path))
    else:
        torch.save(obj, path)
    path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
    return path


LAYOUTS = {
    "timm .pth": lambda hf, tmp: ("m.pth", timm_state(hf, tmp)),
    "timm nested under model": lambda hf, tmp: ("m.pth", {"model": timm_state(hf, tmp), "epoch": 7}),
    "timm nested under state_dict": lambda hf, tmp: ("m.pt", {"state_dict": timm_state(hf, tmp), "opt": {}}),
    "timm module. prefix": lambda hf, tmp: ("m.pth", {f"module.{k}": v for k, v in timm_state(hf, tmp).items()}),
    "timm .safetensors": lambda hf, tmp: ("m.safetensors", timm_state(hf, tmp)),
    "hf classic .bin": lambda hf, tmp: ("pytorch_model.bin", hf_classic_state(hf)),
    "hf classic .safetensors": lambda hf, tmp: ("model.safetensors", hf_classic_state(hf)),
    "hf v5 .pth": lambda hf, tmp: ("m.pth", hf_v5_state(hf)),
    "hf v5 .safetensors": lambda hf, tmp: ("model.safetensors", hf_v5_state(hf)),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_round_trips_to_the_same_logits(tmp_path, hf, reference, layout):
    name, obj = LAYOUTS[layout](hf, tmp_path)
    loaded = load_model(save(tmp_path / name, obj))
    pixels, ref_logits = reference
    with torch.no_grad():
        logits = loaded.model(pixels).logits
    torch.testing.assert_close(logits, ref_logits, atol=1e-4, rtol=0)
    arch = loaded.info.architecture
    assert (arch.depth, arch.embed_dim, arch.num_heads, arch.patch_size, arch.grid, arch.num_classes) == (
        3, 192, 3, 16, (14, 14), 5)
    assert loaded.info.layout == ("timm" if layout.startswith("timm") else "hf-vit")


def test_legacy_non_zip_torch_format(tmp_path, hf, reference):
    path = tmp_path / "legacy.pth"
    torch.save(hf.state_dict(), path, _use_new_zipfile_serialization=False)
    with torch.no_grad():
        logits = load_model(path).model(reference[0]).logits
    torch.testing.assert_close(logits, reference[1], atol=1e-4, rtol=0)


def test_half_precision_safetensors_load_as_float32(tmp_path, hf, reference):
    state = {k: v.to(torch.bfloat16) for k, v in hf_v5_state(hf).items()}
    loaded = load_model(save(tmp_path / "half.safetensors", state))
    assert loaded.model.head.weight.dtype == torch.float32
    with torch.no_grad():
        logits = loaded.model(reference[0]).logits
    assert (logits.argmax(-1) == reference[1].argmax(-1)).all()


def test_no_qkv_bias_is_inferred(tmp_path, reference):
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=192, num_hidden_layers=2, num_attention_heads=3, intermediate_size=384,
                       num_labels=4, qkv_bias=False, attn_implementation="eager")
    hf = ViTForImageClassification(config).eval()
    loaded = load_model(save(tmp_path / "nobias.pth", hf.state_dict()))
    assert loaded.info.architecture.qkv_bias is False
    assert loaded.info.architecture.mlp_hidden == 384
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(reference[0]).logits, hf_reference(hf, reference[0])[0], atol=1e-4, rtol=0)


def test_heads_default_by_width_without_a_sidecar(tmp_path, hf):
    path = tmp_path / "bare.pth"
    torch.save(hf.state_dict(), path)
    info = load_model(path).info
    assert info.architecture.num_heads == 3  # ViT-Ti: 192 wide, 64-dim heads
    assert info.preprocessing.input_size == (224, 224)
    assert info.label(3) == "class 3"


# ---- hostile files ---------------------------------------------------------------------------

def test_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path, hf):
    # the payload is live: an ordinary unpickler does create the file
    live_marker = tmp_path / "ran-with-plain-pickle"
    pickle.loads(pickle.dumps(CreatesAFile(live_marker))).close()
    assert live_marker.exists()

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({**hf_v5_state(hf), "payload": CreatesAFile(marker)}, path)
    with pytest.raises(CheckpointError, match="asks to run code") as err:
        load_model(path)
    assert "open" in str(err.value)
    assert not marker.exists()


# ---- broken and unrelated files --------------------------------------------------------------

def resnet_like_state():
    return {"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.ones(64),
            "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3), "fc.weight": torch.zeros(1000, 2048),
            "fc.bias": torch.zeros(1000)}


def write_bytes(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def truncated_copy(tmp_path, hf, suffix):
    full = save(tmp_path / f"full{suffix}", hf_v5_state(hf))
    data = full.read_bytes()
    return write_bytes(tmp_path, f"truncated{suffix}", data[: len(data) // 2])


BROKEN = {
    "empty file": (lambda tmp, hf: write_bytes(tmp, "empty.pth", b""), "empty"),
    "text file": (lambda tmp, hf: write_bytes(tmp, "notes.pth", b"these are my notes\n" * 20), "not a readable checkpoint"),
    "random bytes": (lambda tmp, hf: write_bytes(tmp, "noise.pt", bytes(range(256)) * 40), "not a"),
    "truncated .pth": (lambda tmp, hf: truncated_copy(tmp, hf, ".pth"), "not a readable checkpoint"),
    "truncated .safetensors": (lambda tmp, hf: truncated_copy(tmp, hf, ".safetensors"), "truncated or corrupt"),
    "safetensors with a broken header": (
        lambda tmp, hf: write_bytes(tmp, "bad.safetensors", (40).to_bytes(8, "little") + b"{" + b"x" * 39),
        "corrupt .safetensors header"),
    "a ResNet state dict": (lambda tmp, hf: save(tmp / "resnet.pth", resnet_like_state()), "not a ViT checkpoint"),
    "a pickled list": (lambda tmp, hf: save(tmp / "list.pth", [1, 2, 3]), "not a state dict"),
    "a ViT missing a block tensor": (
        lambda tmp, hf: save(tmp / "holed.pth", {k: v for k, v in hf_v5_state(hf).items() if k != "vit.layers.1.mlp.fc2.weight"}),
        "missing 'vit.layers.1.mlp.fc2.weight'"),
    "a missing file": (lambda tmp, hf: tmp / "nowhere.pth", "no such file"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_files_give_one_clear_error(tmp_path, hf, case):
    make, message = BROKEN[case]
    with pytest.raises(CheckpointError, match=message):
        load_model(make(tmp_path, hf))


def test_error_says_what_was_expected(tmp_path):
    with pytest.raises(CheckpointError, match="expected a Vision Transformer"):
        load_model(save(tmp_path / "resnet.pth", resnet_like_state()))


@pytest.mark.parametrize("sidecar, message", [
    ({"num_heads": 5}, "does not divide"),
    ({"num_heads": "three"}, "positive whole number"),
    ({"mean": [0.5, 0.5]}, "'mean' must be three numbers"),
    ({"std": [0.5, 0, 0.5]}, "'std' must be three numbers from 0.001 to 10"),
    ({"crop_pct": 3}, "crop_pct"),
    ({"interpolation": "cubic-ish"}, "interpolation"),
    ({"input_size": [224, -5]}, "input_size"),
    ({"labels": "cat,dog"}, "'labels' must be a list"),
])
def test_bad_sidecar_values_are_named(tmp_path, hf, sidecar, message):
    with pytest.raises(ModelConfigError, match=message):
        load_model(save(tmp_path / "m.pth", hf_v5_state(hf), sidecar=sidecar))


def test_sidecar_that_is_not_json(tmp_path, hf):
    path = save(tmp_path / "m.pth", hf_v5_state(hf))
    path.with_name("m.pth.json").write_text("{not json")
    with pytest.raises(ModelConfigError, match="not a readable JSON"):
        load_model(path)


def test_labels_file_and_count_mismatch_warns(tmp_path, hf):
    (tmp_path / "names.txt").write_text("zero\none\n\nthree\n", encoding="utf-8")
    info = load_model(save(tmp_path / "m.pth", hf_v5_state(hf), sidecar={"labels_file": "names.txt"})).info
    assert info.labels == ("zero", "one", "", "three")
    assert info.label(1) == "one" and info.label(2) == "class 2" and info.label(4) == "class 4"
    assert "4 names but the model has 5 classes" in info.warnings[0]


def test_labels_file_in_a_wrong_encoding_is_named(tmp_path, hf):
    (tmp_path / "names.txt").write_bytes("café\n".encode("latin-1"))
    with pytest.raises(ModelConfigError, match="not UTF-8"):
        load_model(save(tmp_path / "m.pth", hf_v5_state(hf), sidecar={"labels_file": "names.txt"}))


def test_read_state_dict_never_returns_non_tensors(tmp_path, hf):
    path = save(tmp_path / "mixed.pth", {**hf_v5_state(hf), "note": "hello", "step": 3})
    state = read_state_dict(path)
    assert all(torch.is_tensor(v) for v in state.values())

"""Every kind of bad input becomes a clear message on its own item; the rest carries on."""

import json
import os
import shutil

import bad_inputs
import numpy as np
import pytest
import torch
from PIL import Image

from vit_gui.cli import main
from vit_gui.errors import ImageLoadError
from vit_gui.images import find_images, load_image
from vit_gui.predict import Predictor

# ---- images: the engine ------------------------------------------------------------------------

@pytest.mark.parametrize("case", bad_inputs.IMAGE_CASES, ids=lambda c: c.__name__)
def test_each_image_case_loads_or_says_why(tmp_path, photos, tiny_checkpoint, case):
    path, (outcome, detail) = case(tmp_path, photos)
    if outcome == "error":
        with pytest.raises(ImageLoadError, match=detail.replace("(", r"\(").replace(")", r"\)")):
            load_image(path)
        return
    loaded = load_image(path)
    assert loaded.image.mode == "RGB" and min(loaded.image.size) >= 1
    assert loaded.notes == ((detail,) if detail else ())
    result = Predictor.from_file(tiny_checkpoint).predict([loaded.image], with_attentions=True)[0]
    assert result.top and np.isfinite(result.map()).all()


def test_palette_transparency_becomes_white(tmp_path, photos):
    path, _ = bad_inputs.palette_with_transparency(tmp_path, photos)
    with Image.open(path) as raw:
        transparent = np.argwhere(np.asarray(raw) == 0)
    y, x = transparent[0]
    assert load_image(path).image.getpixel((int(x), int(y))) == (255, 255, 255)


def test_16_bit_grey_keeps_its_tones(tmp_path, photos):
    path, _ = bad_inputs.grey_16_bit(tmp_path, photos)
    grey = np.asarray(Image.fromarray(photos["coffee"]).convert("L"), np.int16)
    assert np.abs(np.asarray(load_image(path).image, np.int16)[..., 0] - grey).max() <= 1


def test_unreadable_file_says_permission_denied(tmp_path, photos, monkeypatch):
    path = tmp_path / "secret.png"
    Image.fromarray(photos["coffee"]).save(path)
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads every file (CI runs as root), so the OS refusal is simulated
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))
        monkeypatch.setattr("vit_gui.images.Image.open", refuse)
    with pytest.raises(ImageLoadError, match="permission denied"):
        load_image(path)


def test_file_deleted_between_listing_and_loading(tmp_path, photos):
    Image.fromarray(photos["coffee"]).save(tmp_path / "gone.png")
    [path] = find_images([tmp_path])
    path.unlink()
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(path)


def test_exif_rotated_photo_overlay_matches_the_upright_image(tmp_path, photos, tiny_checkpoint, capsys):
    path, _ = bad_inputs.exif_rotated(tmp_path, photos)
    assert main(["classify", str(path), "--model", str(tiny_checkpoint), "--maps", str(tmp_path / "maps"),
                 "--no-legend"]) == 0
    record = json.loads(capsys.readouterr().out)[0]
    with Image.open(record["maps"]["overlay"]) as overlay, Image.open(path) as stored:
        assert stored.size == (300, 451)  # stored sideways
        assert overlay.size == (451, 300)  # drawn on the upright photo the user sees
        upright = np.asarray(Image.fromarray(photos["chelsea"]), np.int16)
        # outside the centre crop the overlay leaves the photo untouched: it is the upright one
        assert np.abs(np.asarray(overlay, np.int16)[:, :20] - upright[:, :20]).mean() < 6


# ---- images: the CLI carries on past every bad file ------------------------------------------

def test_cli_on_a_folder_of_every_case(tmp_path, photos, tiny_checkpoint, capsys):
    folder = tmp_path / "desktop"
    folder.mkdir()
    expected = {}
    for case in bad_inputs.IMAGE_CASES:
        path, outcome = case(folder, photos)
        expected[str(path)] = outcome
    os.symlink(folder, folder / "loop")  # a symlink loop inside the dropped folder
    code = main(["classify", str(folder), "--model", str(tiny_checkpoint), "--batch-size", "4"])
    records = {r["path"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert set(records) == set(expected)
    for path, (outcome, detail) in expected.items():
        record = records[path]
        if outcome == "error":
            assert detail in record["error"] and record["top"] == [], path
        else:
            assert record["error"] is None and len(record["top"]) == 5, path
            assert record["notes"] == ([detail] if detail else []), path


def test_cli_streams_a_thousand_images_in_batches(tmp_path, photos, tiny_checkpoint, capsys, monkeypatch):
    folder = tmp_path / "thousand"
    folder.mkdir()
    small = Image.fromarray(photos["rocket"]).resize((40, 30))
    for i in range(1000):
        small.save(folder / f"{i:04d}.png")
    batches = []
    real = Predictor.predict
    monkeypatch.setattr(Predictor, "predict", lambda self, images, *a, **k: batches.append(len(images)) or real(self, images, *a, **k))
    assert main(["classify", str(folder), "--model", str(tiny_checkpoint), "--batch-size", "16", "--top-k", "1"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 1000
    assert max(batches) == 16 and sum(batches) == 1000  # never more than one batch in memory
    assert "[1000/1000]" in err


# ---- models ------------------------------------------------------------------------------------

def model_cases(tmp_path, tiny_hf):
    state = tiny_hf.state_dict()
    cases = {}
    (tmp_path / "notes.pth").write_text("not a checkpoint at all")
    cases["not a checkpoint"] = (tmp_path / "notes.pth", "not a readable checkpoint")
    torch.save(state, tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    cases["truncated checkpoint"] = (tmp_path / "truncated.pth", "not a readable checkpoint")
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 2048)}, tmp_path / "resnet.pth")
    cases["another architecture"] = (tmp_path / "resnet.pth", "not a ViT checkpoint")
    torch.save(state, tmp_path / "badsidecar.pth")
    (tmp_path / "badsidecar.pth.json").write_text(json.dumps({"mean": "blue", "num_heads": 3}))
    cases["sidecar with bad values"] = (tmp_path / "badsidecar.pth", "'mean' must be three numbers")
    torch.save(state, tmp_path / "latin1.pth")
    (tmp_path / "names.txt").write_bytes("caf\xe9\n".encode("latin-1") * 10)
    (tmp_path / "latin1.pth.json").write_text(json.dumps({"labels_file": "names.txt"}))
    cases["labels file in a wrong encoding"] = (tmp_path / "latin1.pth", "not UTF-8")
    torch.save({**state, "x": bad_inputs.CreatesAFile(tmp_path / "pwned")}, tmp_path / "evil.pth")
    cases["pickle that runs code"] = (tmp_path / "evil.pth", "asks to run code")
    return cases


def test_cli_refuses_each_bad_model_with_its_reason(tmp_path, tiny_hf, photo_folder, capsys):
    for name, (path, message) in model_cases(tmp_path, tiny_hf).items():
        code = main(["classify", str(photo_folder), "--model", str(path)])
        out, err = capsys.readouterr()
        assert code == 2 and out == "", name
        assert message in err, f"{name}: {err}"
    assert not (tmp_path / "pwned").exists()


def test_labels_with_blank_lines_and_a_wrong_count_still_classify(tmp_path, tiny_hf, photo_folder, capsys):
    torch.save(tiny_hf.state_dict(), tmp_path / "m.pth")
    (tmp_path / "names.txt").write_text("zero\n\ntwo\nthree\n\n\n", encoding="utf-8")
    (tmp_path / "m.pth.json").write_text(json.dumps({"labels_file": "names.txt", "num_heads": 3}))
    assert main(["classify", str(photo_folder / "coffee.png"), "--model", str(tmp_path / "m.pth"), "--top-k", "10"]) == 0
    out, err = capsys.readouterr()
    labels = {t["index"]: t["label"] for t in json.loads(out)[0]["top"]}
    assert labels == {0: "zero", 1: "class 1", 2: "two", 3: "three", **{i: f"class {i}" for i in range(4, 10)}}
    assert "4 names but the model has 10 classes" in err


def test_out_of_memory_falls_back_to_smaller_batches_and_says_so(tmp_path, tiny_checkpoint, photo_folder, capsys, monkeypatch):
    folder = tmp_path / "five"
    folder.mkdir()
    for i in range(5):
        shutil.copy(photo_folder / "coffee.png", folder / f"c{i}.png")
    assert main(["classify", str(folder), "--model", str(tiny_checkpoint)]) == 0
    reference = json.loads(capsys.readouterr().out)

    from vit_gui.model.vit import VisionTransformer

    real_forward = VisionTransformer.forward

    def forward(self, pixels, *args, **kwargs):
        if pixels.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, pixels, *args, **kwargs)

    monkeypatch.setattr(VisionTransformer, "forward", forward)
    assert main(["classify", str(folder), "--model", str(tiny_checkpoint), "--batch-size", "8"]) == 0
    out, err = capsys.readouterr()
    assert "ran out of memory with a batch of 5 images" in err and "batches of 2" in err
    records = json.loads(out)
    assert [[t["index"] for t in r["top"]] for r in records] == [[t["index"] for t in r["top"]] for r in reference]
    for mine, ref in zip(records, reference):
        assert [t["prob"] for t in mine["top"]] == pytest.approx([t["prob"] for t in ref["top"]], abs=1e-6)


def test_a_single_image_that_does_not_fit_is_an_error_on_that_item(tmp_path, tiny_checkpoint, photo_folder, capsys, monkeypatch):
    from vit_gui.model.vit import VisionTransformer

    def forward(self, pixels, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(VisionTransformer, "forward", forward)
    assert main(["classify", str(photo_folder / "coffee.png"), "--model", str(tiny_checkpoint)]) == 1
    assert "not enough memory on CPU" in json.loads(capsys.readouterr().out)[0]["error"]

"""`vit-gui classify` end to end on real photos: JSON, CSV, .npy maps and PNG overlays."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vit_gui.cli import main
from vit_gui.explain import rollout as ro
from vit_gui.explain.legend import legend_height
from vit_gui.explain.maps import MapSpec
from vit_gui.explain.overlay import colorize
from vit_gui.images import load_image
from vit_gui.predict import Predictor


def run_cli(capsys, *argv):
    code = main(["classify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_overlays_carry_a_legend_unless_asked_not_to(tmp_path, capsys, tiny_checkpoint, photo_folder):
    photo = photo_folder / "chelsea.jpg"
    code, out, _ = run_cli(capsys, photo, "--model", tiny_checkpoint, "--maps", tmp_path / "with")
    assert code == 0
    with Image.open(json.loads(out)[0]["maps"]["overlay"]) as png:
        with_band = np.asarray(png.convert("RGB"))
    code, out, _ = run_cli(capsys, photo, "--model", tiny_checkpoint, "--maps", tmp_path / "without", "--no-legend")
    assert code == 0
    with Image.open(json.loads(out)[0]["maps"]["overlay"]) as png:
        plain = np.asarray(png.convert("RGB"))
    height, width = plain.shape[:2]
    assert with_band.shape == (height + legend_height(width), width, 3)
    np.testing.assert_array_equal(with_band[:height], plain)  # the photo is not covered
    band = with_band[height:]
    assert (band[:, :2] == 255).all()  # a white band…
    inferno_top = colorize(np.array([[1.0]]), "inferno")[0, 0]
    assert (np.abs(band.astype(int) - inferno_top).sum(-1) < 12).any()  # …holding the colour bar's bright end


def block_buffered_env() -> dict:
    """Output to a pipe is block-buffered unless PYTHONUNBUFFERED is set: the fast exit
    after a headless command must still flush it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_json_and_maps_end_to_end_in_a_real_process(tmp_path, tiny_checkpoint, photo_folder):
    maps = tmp_path / "maps"
    proc = subprocess.run(
        [sys.executable, "-m", "vit_gui", "classify", str(photo_folder), "--model", str(tiny_checkpoint),
         "--top-k", "3", "--maps", str(maps)],
        capture_output=True, text=True, timeout=300, env=block_buffered_env(),
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert [r["path"] for r in records] == [
        str(photo_folder / "chelsea.jpg"), str(photo_folder / "coffee.png"), str(photo_folder / "more" / "rocket.jpg")]
    assert "[3/3]" in proc.stderr  # progress on stderr, stdout stays pure JSON

    predictor = Predictor.from_file(tiny_checkpoint)
    for record in records:
        assert record["error"] is None and len(record["top"]) == 3
        loaded = load_image(record["path"])
        expected = predictor.predict([loaded.image], top_k=3, with_attentions=True)[0]
        assert [t["index"] for t in record["top"]] == [t.index for t in expected.top]
        assert [t["label"] for t in record["top"]] == [t.label for t in expected.top]
        np.testing.assert_allclose([t["prob"] for t in record["top"]], [t.prob for t in expected.top], atol=1e-6)

        grid_map = np.load(record["maps"]["npy"])
        assert record["maps"]["npy"].endswith(".rollout.npy")
        assert grid_map.dtype == np.float32 and grid_map.shape == (14, 14)
        assert grid_map.min() == 0.0 and grid_map.max() == pytest.approx(1.0)
        np.testing.assert_allclose(grid_map, ro.rollout(expected.attentions, (14, 14)), atol=1e-6)
        with Image.open(record["maps"]["overlay"]) as png:
            width, height = loaded.image.size
            assert png.format == "PNG" and png.size == (width, height + legend_height(width))  # the legend below


def test_csv_output(capsys, tiny_checkpoint, photo_folder):
    code, out, _ = run_cli(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["path", "rank", "label", "index", "prob", "error", "note"]
    assert len(rows) == 3 * 5
    chelsea = [r for r in rows if r["path"].endswith("chelsea.jpg")]
    assert [r["rank"] for r in chelsea] == ["1", "2", "3", "4", "5"]
    assert all(r["label"] == f"label {r['index']}" and r["error"] == "" for r in chelsea)
    probs = [float(r["prob"]) for r in chelsea]
    assert probs == sorted(probs, reverse=True)


def test_a_bad_file_gets_its_error_and_the_rest_still_run(capsys, tmp_path, tiny_checkpoint, photo_folder):
    (photo_folder / "broken.jpg").write_text("not a picture")
    output = tmp_path / "out.csv"
    code, out, err = run_cli(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv", "-o", output)
    assert code == 1 and out == ""
    rows = list(csv.DictReader(output.open()))
    broken = [r for r in rows if r["path"].endswith("broken.jpg")]
    assert len(broken) == 1 and "not an image" in broken[0]["error"]
    assert len([r for r in rows if r["error"] == ""]) == 3 * 5
    assert "1 of 4 images could not be classified" in err


def test_block_and_head_maps(capsys, tmp_path, tiny_checkpoint, photo_folder):
    maps = tmp_path / "maps"
    code, out, _ = run_cli(capsys, photo_folder / "coffee.png", "--model", tiny_checkpoint,
                           "--maps", maps, "--layer", "2", "--head", "3")
    assert code == 0
    record = json.loads(out)[0]
    assert record["maps"]["npy"].endswith("coffee.block2.head3.npy")
    prediction = Predictor.from_file(tiny_checkpoint).predict(
        [load_image(photo_folder / "coffee.png").image], with_attentions=True)[0]
    np.testing.assert_allclose(np.load(record["maps"]["npy"]), prediction.map(MapSpec("head", block=1, head=2)), atol=1e-6)

    code, out, _ = run_cli(capsys, photo_folder / "coffee.png", "--model", tiny_checkpoint,
                           "--maps", maps, "--layer", "4", "--fusion", "max")
    assert code == 0
    np.testing.assert_allclose(np.load(maps / "coffee.block4.npy"), prediction.map(MapSpec("block", "max", block=3)), atol=1e-6)


def test_map_option_names_the_method_and_two_maps_keep_both_overlays(capsys, tmp_path, tiny_checkpoint, photo_folder):
    maps = tmp_path / "maps"
    for extra in (["--map", "head", "--layer", "2", "--head", "3"], ["--map", "block", "--layer", "2"]):
        code, out, _ = run_cli(capsys, photo_folder / "coffee.png", "--model", tiny_checkpoint, "--maps", maps, *extra)
        assert code == 0
    assert sorted(p.name for p in maps.iterdir()) == [
        "coffee.block2.head3.npy", "coffee.block2.head3.png", "coffee.block2.npy", "coffee.block2.png"]


def test_class_specific_map(capsys, tmp_path, tiny_checkpoint, photo_folder):
    maps = tmp_path / "maps"
    code, out, _ = run_cli(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--maps", maps, "--class-index", "4")
    assert code == 0
    expected, _ = Predictor.from_file(tiny_checkpoint).class_map(load_image(photo_folder / "chelsea.jpg").image, 4)
    # named by the class, not its number ("label 4" is the tiny model's fifth class)
    np.testing.assert_allclose(np.load(maps / "chelsea.class-label-4.npy"), expected, atol=1e-6)
    assert (maps / "chelsea.class-label-4.png").is_file()  # the overlay is named by its map too


def test_class_names_that_make_the_same_file_name_keep_their_numbers(tmp_path):
    from types import SimpleNamespace

    from vit_gui.cli.map_files import MapWriter
    from vit_gui.explain.maps import MapSpec

    info = SimpleNamespace(labels=("tabby, tabby cat", "a/b", "a b", "??"))
    args = SimpleNamespace(maps=tmp_path, colormap="inferno", opacity=0.5, legend=False)
    writer = MapWriter(SimpleNamespace(info=info), args)
    parts = [writer.file_part(MapSpec("gradcam", class_index=i)) for i in range(4)]
    assert parts == ["gradcam-tabby-tabby-cat", "gradcam-a-b-1", "gradcam-a-b-2", "gradcam-3"]
    assert writer.file_part(MapSpec("rollout")) == "rollout"


def test_same_names_in_different_folders_do_not_overwrite(capsys, tmp_path, tiny_checkpoint, photos):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        Image.fromarray(photos["rocket"]).save(tmp_path / sub / "shot.png")
    code, out, _ = run_cli(capsys, tmp_path / "a", tmp_path / "b", "--model", tiny_checkpoint, "--maps", tmp_path / "maps")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [
        "shot-2.rollout.npy", "shot-2.rollout.png", "shot.rollout.npy", "shot.rollout.png"]


@pytest.mark.parametrize("args, message", [
    (["--head", "2"], "--head needs --layer"),
    (["--layer", "9"], "block must be 1..4"),
    (["--layer", "1", "--head", "4"], "head must be 1..3"),
    (["--class-index", "10"], "class index must be 0..9"),
    (["--discard", "1.5"], "discard ratio"),
    (["--layer", "2", "--discard", "0.5"], "--discard does not apply to the block map"),
    (["--map", "rollout", "--head", "1", "--layer", "1"], "--layer, --head do not apply to the rollout map"),
    (["--map", "head", "--layer", "1"], "the head map needs --head"),
    (["--map", "gradcam", "--layer", "2"], "--layer does not apply to the gradcam map"),
    (["--top-k", "0"], "at least 1"),
    (["--maps", "somewhere", "--colormap", "nope"], "unknown colormap"),
])
def test_bad_arguments_exit_2_with_a_reason(capsys, tiny_checkpoint, photo_folder, args, message):
    code, out, err = run_cli(capsys, photo_folder, "--model", tiny_checkpoint, *args)
    assert code == 2 and out == ""
    assert message in err


def test_no_model_installed_exits_2_and_says_how_to_get_one(capsys, tmp_path, photo_folder, monkeypatch):
    monkeypatch.setattr("vit_gui.model.catalog.model_data_dir", lambda: tmp_path / "empty")
    code, out, err = run_cli(capsys, photo_folder)
    assert code == 2 and out == ""
    assert "no model is installed" in err and "--model FILE" in err


def test_a_broken_model_exits_2(capsys, tmp_path, photo_folder):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 100)
    code, _, err = run_cli(capsys, photo_folder, "--model", bad)
    assert code == 2 and "bad.pth" in err


def test_cuda_missing_exits_2(capsys, tiny_checkpoint, photo_folder, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run_cli(capsys, photo_folder, "--model", tiny_checkpoint, "--device", "cuda")
    assert code == 2 and "CUDA was requested but" in err


def test_no_images_found_exits_2(capsys, tmp_path, tiny_checkpoint):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, tmp_path / "empty", "--model", tiny_checkpoint)
    assert code == 2 and "no image files found" in err


def test_photo_paths_open_the_window_on_them_and_a_typo_says_so(capsys, monkeypatch, photo_folder, tmp_path):
    import vit_gui.gui.app as app

    opened = []
    monkeypatch.setattr(app, "run_app", lambda argv=None, open_paths=None: opened.append(open_paths) or 0)
    assert main([str(photo_folder / "chelsea.jpg"), str(photo_folder / "more")]) == 0
    assert opened == [[str(photo_folder / "chelsea.jpg"), str(photo_folder / "more")]]
    assert main([str(tmp_path / "typo.jpg")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_no_display_is_said_plainly_instead_of_a_qt_abort(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "vit_gui"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no display to open a window on" in proc.stderr


def test_a_class_map_without_class_index_explains_each_images_top_class(capsys, tiny_checkpoint, photo_folder,
                                                                         tmp_path):
    code, out, _ = run_cli(capsys, photo_folder / "chelsea.jpg", photo_folder / "coffee.png", "--model",
                           tiny_checkpoint, "--map", "legrad", "--maps", tmp_path / "maps")
    records = json.loads(out)
    assert code == 0
    for record in records:
        top = record["top"][0]["index"]
        assert record["maps"]["kind"] == f"legrad{top}" and Path(record["maps"]["npy"]).is_file()


def test_a_backbones_csv_row_says_why_it_has_no_class(capsys, photo_folder, tmp_path):
    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    torch.manual_seed(0)
    path = write_safetensors(tmp_path / "b.safetensors", VisionTransformer(embed_dim=192, depth=1, num_heads=3,
                                                                           num_classes=0).state_dict())
    code, out, _ = run_cli(capsys, photo_folder / "coffee.png", "--model", path, "--format", "csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and row["label"] == "" and row["error"] == "" and "no classes" in row["note"]

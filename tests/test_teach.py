"""Teaching new classes: data, cached features, the probe, the saved model, the CLI; and a
real task (crops of scikit-image's photos) on the real DINOv2 backbone."""

import json

import numpy as np
import pytest
import torch
from conftest import REAL_CACHE
from PIL import Image
from test_real_backbone import builtin_model_script

from vit_gui.cli import main
from vit_gui.model.checkpoints import load_model
from vit_gui.model.safetensors_io import write_safetensors
from vit_gui.model.vit import VisionTransformer
from vit_gui.predict import Predictor
from vit_gui.teach.data import TeachDataError, read_class_folders, split
from vit_gui.teach.features import extract
from vit_gui.teach.probe import train_probe

# class -> a real picture from scikit-image's wheel; training crops come from its top half,
# validation crops from its bottom half, so no validation pixel was ever seen in training
SOURCES = {"brick": "brick", "grass": "grass", "gravel": "gravel", "stars": "hubble_deep_field"}


def real_task(root, per_class=(14, 6), side=112, seed=0):
    import skimage.data

    rng = np.random.default_rng(seed)
    for name, source in SOURCES.items():
        picture = np.asarray(Image.fromarray(getattr(skimage.data, source)()).convert("RGB"))
        half = picture.shape[0] // 2
        for split_name, count, (top, bottom) in (("train", per_class[0], (0, half)), ("val", per_class[1], (half, 2 * half))):
            folder = root / split_name / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                y = rng.integers(top, bottom - side)
                x = rng.integers(0, picture.shape[1] - side)
                Image.fromarray(picture[y : y + side, x : x + side]).save(folder / f"{i:02d}.png")
    return root / "train", root / "val"


@pytest.fixture(scope="module")
def real_backbone(tmp_path_factory):
    return builtin_model_script().build(tmp_path_factory.mktemp("builtin"), REAL_CACHE / "vit-gui")


def class_folders(root, photos, count, shift, axis=1, classes=(("cats", "chelsea"), ("cups", "coffee"))):
    """A folder per class, each with `count` shifted copies of one sample photo."""
    for name, photo in classes:
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.roll(photos[photo], shift * i, axis=axis)).save(root / name / f"{i}.png")


def run_teach(capsys, *argv):
    code = main(["teach", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_real_task_reaches_90_percent_with_the_real_backbone(capsys, tmp_path, real_backbone):
    train, val = real_task(tmp_path / "data")
    code, out, err = run_teach(capsys, train, "--val-dir", val, "--model", real_backbone, "-o", tmp_path / "models")
    report = json.loads(out)
    print(f"real backbone: validation accuracy {report['validation_accuracy']:.1%} on {report['val_images']} crops")
    assert code == 0 and report["classes"] == sorted(SOURCES) and report["val_images"] == 4 * 6
    assert report["validation_accuracy"] >= 0.9
    # an ordinary model: it loads, names the new classes, classifies an unseen crop, and has class maps
    taught = Predictor.from_file(report["model"])
    assert taught.info.labels == tuple(sorted(SOURCES)) and not taught.info.architecture.is_backbone
    crop = Image.open(val / "grass" / "03.png").convert("RGB")
    assert taught.predict([crop])[0].top[0].label == "grass"
    grid_map, _ = taught.class_map(crop, taught.info.labels.index("grass"))
    assert grid_map.shape == (16, 16) and np.isfinite(grid_map).all()
    sidecar = json.loads(open(report["model"] + ".json").read())
    assert sidecar["taught"]["base_sha256"] and sidecar["taught"]["validation_accuracy"] == report["validation_accuracy"]


def test_the_same_pipeline_on_random_weights_runs_and_reports_its_score(capsys, tmp_path, real_backbone):
    train, val = real_task(tmp_path / "data", per_class=(8, 4))
    torch.manual_seed(0)
    random_vit = VisionTransformer(embed_dim=384, depth=12, num_heads=6, patch_size=14, grid=(16, 16), num_classes=0)
    write_safetensors(tmp_path / "random.safetensors", random_vit.state_dict())
    code, out, _ = run_teach(capsys, train, "--val-dir", val, "--model", tmp_path / "random.safetensors",
                             "-o", tmp_path / "models")
    accuracy = json.loads(out)["validation_accuracy"]
    print(f"random weights: validation accuracy {accuracy:.1%}")
    assert code == 0 and 0.0 <= accuracy <= 1.0


def test_features_are_cached_per_file_and_a_changed_file_is_read_again(tmp_path, tiny_checkpoint, photo_folder, monkeypatch):
    predictor = Predictor.from_file(tiny_checkpoint)
    paths = sorted(photo_folder.rglob("*.jpg")) + sorted(photo_folder.rglob("*.png"))
    first, failed, cached = extract(predictor, paths, "digest-a")
    assert cached == 0 and not failed and first.shape == (3, 192)
    calls = []
    original = predictor.predict
    monkeypatch.setattr(predictor, "predict", lambda images, **kw: calls.append(len(images)) or original(images, **kw))
    again, _, cached = extract(predictor, paths, "digest-a")
    assert cached == 3 and calls == [] and np.array_equal(first, again)
    Image.open(paths[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(paths[0])  # edited: new size/mtime
    _, _, cached = extract(predictor, paths, "digest-a")
    assert cached == 2 and calls == [1]
    _, _, cached = extract(predictor, paths, "digest-b")  # another model: nothing cached for it
    assert cached == 0


def test_probe_learns_separable_features_and_folds_the_standardisation(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (3, 16)) + 100  # far from zero: the folding of the mean matters
    labels = np.repeat(np.arange(3), 30)
    features = centres[labels] + rng.normal(0, 1, (90, 16))
    train, val = np.arange(90) % 3 != 0, np.arange(90) % 3 == 0
    probe = train_probe(features[train], labels[train], features[val], labels[val], 3)
    assert (probe.predict(features[val]) == labels[val]).mean() == 1.0
    assert probe.weight_decay in {row["weight_decay"] for row in probe.history} and len(probe.history) == 5


def test_split_is_stratified_and_seeded(tmp_path):
    items = [(tmp_path / f"{c}{i}.png", c) for c in range(3) for i in range(10)]
    train, val = split(items, 0.2, seed=1)
    assert sorted(label for _, label in val) == [0, 0, 1, 1, 2, 2] and len(train) == 24
    assert split(items, 0.2, seed=1) == (train, val) and split(items, 0.2, seed=2) != (train, val)
    with pytest.raises(TeachDataError):
        split(items, 1.0, seed=0)


def test_class_folders_unreadable_files_and_too_few_classes(tmp_path, photos):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cups").mkdir()
    (tmp_path / "empty").mkdir()
    Image.fromarray(photos["chelsea"]).save(tmp_path / "cats" / "a.jpg")
    Image.fromarray(photos["coffee"]).save(tmp_path / "cups" / "b.jpg")
    (tmp_path / "cups" / "c.psd").write_bytes(b"not readable here")
    dataset = read_class_folders([tmp_path])
    assert dataset.classes == ["cats", "cups"] and dataset.counts() == {"cats": 1, "cups": 1}
    reasons = {path.name: why for path, why in dataset.skipped}
    assert "Photoshop" in reasons["c.psd"] and "no images" in reasons["empty"]
    with pytest.raises(TeachDataError, match="at least two class folders"):
        read_class_folders([tmp_path / "cats"])


def test_cli_leaves_out_a_broken_image_with_its_reason_and_exit_1(capsys, tmp_path, tiny_checkpoint, photos):
    class_folders(tmp_path / "data", photos, 4, shift=40)
    (tmp_path / "data" / "cups" / "broken.png").write_bytes(b"\x89PNG broken")
    code, out, err = run_teach(capsys, tmp_path / "data", "--model", tiny_checkpoint, "-o",
                               tmp_path / "out" / "mine.safetensors", "--val-split", "0.25")
    report = json.loads(out)
    assert code == 1 and report["model"].endswith("mine.safetensors") and "left out" in err
    assert [s["path"].endswith("broken.png") for s in report["skipped"]] == [True]
    assert load_model(report["model"]).info.labels == ("cats", "cups")


@pytest.mark.parametrize("args, message", [
    (["--mode", "finetune", "--epochs", "0"], "--epochs must be at least 1"),
    (["--val-split", "1.5"], "between 0 and 1"),
])
def test_cli_refuses_what_it_cannot_do_with_exit_2(capsys, tmp_path, tiny_checkpoint, photos, args, message):
    for name, photo in (("cats", "chelsea"), ("cups", "coffee")):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.fromarray(photos[photo]).save(tmp_path / "data" / name / "1.png")
    code, out, err = run_teach(capsys, tmp_path / "data", "--model", tiny_checkpoint, "-o", tmp_path, *args)
    assert code == 2 and out == "" and message in err


def test_teach_window_teaches_reports_and_saves_into_the_model_list(qtbot, tmp_path, tiny_checkpoint, photos,
                                                                    private_data_dir):
    from gui_helpers import drop, make_window

    class_folders(tmp_path / "data", photos, 5, shift=37, classes=(("cats", "chelsea"), ("cups", "coffee"), ("rockets", "rocket")))
    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    window.models.teach_dialog()
    teach = window.models.teach_window
    drop(teach, paths=[tmp_path / "data" / name for name in ("cats", "cups", "rockets")])
    assert teach.classes.count() == 3 and teach.classes.item(0).text() == "cats — 5 photos"
    teach.start_teaching()
    qtbot.waitUntil(lambda: teach.result is not None or teach.status.text().startswith("not taught"), timeout=60_000)
    assert teach.result is not None, teach.status.text()
    assert len(teach.trials) == 5 and not teach.report.plot.pixmap().isNull() and not teach.report.confusion.pixmap().isNull()
    assert teach.report.table.rowCount() == 3 and teach.report.hardest_layout.count() >= 1
    assert "kept aside" in teach.report.summary.text()
    from gui_helpers import answer_next_dialog

    answer_next_dialog(None)  # Cancel: nothing saved
    teach.save_model()
    assert not (private_data_dir / "models").exists() or not list((private_data_dir / "models").glob("*.safetensors"))
    answer_next_dialog("  my   three things ")  # asked for a name, the suggestion replaced
    teach.save_model()
    qtbot.waitUntil(lambda: window.models.info is not None and window.models.info.labels == ("cats", "cups", "rockets"),
                    timeout=60_000)
    assert window.models.info.path.parent == private_data_dir / "models"
    assert window.models.info.name == "my three things" and window.models.info.path.name == "my-three-things.safetensors"
    assert f"as {window.models.info.path} :" in teach.status.text()  # where it went
    window.close()


def test_finetune_trains_only_the_last_blocks_and_saves_them(capsys, tmp_path, tiny_checkpoint, photos):
    class_folders(tmp_path / "data", photos, 6, shift=31)
    code, out, err = run_teach(capsys, tmp_path / "data", "--model", tiny_checkpoint, "-o", tmp_path / "out",
                               "--mode", "finetune", "--blocks", "1", "--epochs", "2", "--val-split", "0.34")
    report = json.loads(out)
    assert code == 0 and report["mode"] == "finetune" and len(report["epochs_history"]) == 2
    assert "fine-tuning: step" in err
    base, tuned = load_model(tiny_checkpoint).model.state_dict(), load_model(report["model"]).model.state_dict()
    assert torch.equal(base["blocks.0.attn.qkv.weight"], tuned["blocks.0.attn.qkv.weight"])  # frozen
    assert torch.equal(base["patch_embed.proj.weight"], tuned["patch_embed.proj.weight"])
    assert not torch.equal(base["blocks.3.mlp.fc2.weight"], tuned["blocks.3.mlp.fc2.weight"])  # the last block learned
    assert tuned["head.weight"].shape == (2, 192)


def test_teach_window_fine_tunes_when_asked(qtbot, tmp_path, tiny_checkpoint, photos):
    class_folders(tmp_path / "data", photos, 4, shift=29)
    from gui_helpers import taught_in_window

    teach = taught_in_window(qtbot, tiny_checkpoint, [tmp_path / "data"], finetune=True)
    taught = teach.result.taught
    assert taught.facts["mode"] == "finetune" and taught.tuned_state is not None
    assert [r["epoch"] for r in teach.trials if "epoch" in r] == [1, 2, 3, 4, 5]
    teach.done(0)


def test_class_token_plus_patch_mean_feature_makes_a_cls_mean_head(capsys, tmp_path, tiny_checkpoint, photos):
    class_folders(tmp_path / "data", photos, 4, shift=41, axis=0)
    code, out, _ = run_teach(capsys, tmp_path / "data", "--model", tiny_checkpoint, "-o", tmp_path / "out",
                             "--feature", "cls+mean", "--val-split", "0.25")
    report = json.loads(out)
    loaded = load_model(report["model"])
    assert code == 0 and report["feature"] == "cls+mean" and loaded.info.architecture.head_input == "cls+mean"
    # the saved head computes what the probe computed on [class token, patch mean]
    taught = Predictor.from_file(report["model"])
    base = Predictor.from_file(tiny_checkpoint)
    photo = Image.open(tmp_path / "data" / "cats" / "1.png").convert("RGB")
    got = base.predict([photo])[0]
    vector = np.concatenate([got.features, got.patch_mean])
    head = loaded.model.head
    expected = vector @ head.weight.detach().numpy().T + head.bias.detach().numpy()
    np.testing.assert_allclose(np.exp(expected) / np.exp(expected).sum(), taught.predict([photo])[0].probs, atol=1e-5)


def test_the_teach_window_says_how_long_reading_the_photos_will_take(qtbot, monkeypatch, tiny_checkpoint):
    import vit_gui.gui.teach_window as window_module
    from vit_gui.gui.teach_window import TeachWindow

    teach = TeachWindow(str(tiny_checkpoint))
    qtbot.addWidget(teach)
    clock = iter([100.0, 110.0, 130.0])
    monkeypatch.setattr(window_module.time, "monotonic", lambda: next(clock))
    teach.on_progress("reading images", 0, 500)
    teach.on_progress("reading images", 100, 500)  # 100 photos in 10 s: 400 more take about 40 s
    assert teach.status.text() == "reading the photos: 100 of 500, about 40 s left"
    teach.on_progress("reading images", 500, 500)
    assert teach.status.text() == "reading the photos: 500 of 500"
    assert "in seconds" not in teach.findChild(type(teach.status)).text()  # the intro no longer promises seconds
    teach.done(0)

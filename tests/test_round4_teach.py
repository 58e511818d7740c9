"""Hostile inputs, round four: teaching (items 10, 12 and 15). Each failed on the code before
its fix: `--val-dir` naming the training folder scored 100% on random noise, a class folder
linked to `..` took in every other class's photos, and 2,000 one-photo classes were said to
keep "20% of each class" for validation while stdout got a 36 MB confusion matrix. The tests
after the red-team pass (links named one by one, twin links, unreadable or hard-linked or
duplicated validation photos) each failed on the code before their fix too."""

import json
import os
import shutil

import numpy as np
from PIL import Image
from test_teach import class_folders, run_teach

from vit_gui.teach.data import read_class_folders
from vit_gui.teach.report import evaluate


def noise_folders(root, classes=3, per_class=5, side=32, seed=0):
    """Class folders of random-noise photos: nothing to learn, so only a repeat scores well."""
    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"class{c:04d}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / f"class{c:04d}" / f"{i}.png")
    return root


# ---- 10. validation photos that are training photos ----------------------------------------------

def test_val_dir_naming_the_training_folder_validates_on_nothing_and_says_so(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data")
    code, out, err = run_teach(capsys, data, "--val-dir", data, "--model", tiny_checkpoint, "-o", tmp_path / "out")
    report = json.loads(out)
    assert code == 0, err
    # before: val_images 15, "validation accuracy 100.0%" on noise
    assert report["val_images"] == 0 and report["validation_accuracy"] is None and report["train_images"] == 15
    assert "15 of the 15 validation photos are also training photos" in err and "the same file" in err
    assert "Nothing is left to check the classifier on" in err and "validation accuracy" not in err
    # one note: the repeats and that nothing is left (a second note said the same again)
    assert report["validation"] == "separate folder (no photos left)" and len(report["notes"]) == 1


def test_validation_copies_of_training_photos_are_found_by_their_bytes(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data")
    val = tmp_path / "val"
    shutil.copytree(data, val)  # the same photos under other paths
    for c in range(3):
        (val / f"class{c:04d}" / "0.png").rename(val / f"class{c:04d}" / "renamed.png")
    noise_folders(tmp_path / "new", per_class=2, seed=1)  # photos training never saw
    for c in range(3):
        for i in range(2):
            shutil.copy(tmp_path / "new" / f"class{c:04d}" / f"{i}.png", val / f"class{c:04d}" / f"new{i}.png")
    code, out, err = run_teach(capsys, data, "--val-dir", val, "--model", tiny_checkpoint, "-o", tmp_path / "out")
    report = json.loads(out)
    assert code == 0, err
    assert report["val_images"] == 6  # before: 21, 15 of them training photos
    assert "15 of the 21 validation photos are also training photos" in err and "the same bytes as" in err
    assert "and 12 more" in err and "Nothing is left" not in err
    assert report["validation"] == "separate folder (6 photos)"


def test_a_duplicate_photo_in_one_class_folder_is_not_used_to_check_itself(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data", classes=2, per_class=2)
    for c in range(2):  # each photo twice: the split keeps one of each class aside, its twin is trained on
        for i in range(2):
            shutil.copy(data / f"class{c:04d}" / f"{i}.png", data / f"class{c:04d}" / f"{i}-copy.png")
    code, out, err = run_teach(capsys, data, "--model", tiny_checkpoint, "-o", tmp_path / "out", "--val-split", "0.25")
    report = json.loads(out)
    assert code == 0, err
    assert report["val_images"] == 0 and report["train_images"] == 6  # before: 2 photos checked against their twins
    assert "2 of the 2 validation photos are also training photos" in err


# ---- 12. links out of the data folder -----------------------------------------------------------

def test_class_folder_links_out_of_the_data_folder_are_not_followed(tmp_path, photos):
    data = tmp_path / "data"
    class_folders(data, photos, 3, shift=17)
    class_folders(tmp_path / "elsewhere", photos, 2, shift=19, classes=(("dogs", "rocket"),))
    os.symlink("..", data / "loop")  # the link: the data folder's parent, every class again
    os.symlink(tmp_path / "elsewhere" / "dogs", data / "dogs")
    os.symlink(".", data / "self")
    os.symlink("cats", data / "kittens")
    os.symlink(tmp_path / "elsewhere" / "dogs" / "0.png", data / "cats" / "stray.png")
    os.symlink("0.png", data / "cats" / "again.png")  # a link within the class folder stays
    dataset = read_class_folders([data])
    assert dataset.classes == ["cats", "cups"]  # before: cats, cups, dogs, kittens, loop, self
    assert dataset.counts() == {"cats": 4, "cups": 3}
    reasons = {path.name: why for path, why in dataset.skipped}
    assert set(reasons) == {"loop", "dogs", "self", "kittens", "stray.png"}
    assert reasons["loop"] == f"a link to {tmp_path.resolve()}, which holds the data folder itself (a loop): not followed"
    assert "a loop" in reasons["self"] and "the class folder cats" in reasons["kittens"]
    assert reasons["dogs"].startswith(f"a link to {(tmp_path / 'elsewhere' / 'dogs').resolve()}, outside the data folder")
    assert "outside the class folder" in reasons["stray.png"] and "0.png" in reasons["stray.png"]


def test_teach_names_the_link_it_did_not_follow(capsys, tmp_path, tiny_checkpoint, photos):
    data = tmp_path / "data"
    class_folders(data, photos, 3, shift=21)
    os.symlink("..", data / "loop")
    code, out, err = run_teach(capsys, data, "--model", tiny_checkpoint, "-o", tmp_path / "out", "--val-split", "0.34")
    report = json.loads(out)
    assert report["classes"] == ["cats", "cups"] and report["counts"] == {"cats": 3, "cups": 3}  # before: + loop, 6
    assert code == 1 and f"left out {data / 'loop'}: a link to {tmp_path.resolve()}" in err


def test_a_link_that_leaves_one_class_says_so_in_the_refusal(tmp_path, photos):
    data = tmp_path / "data"
    class_folders(data, photos, 2, shift=23, classes=(("cats", "chelsea"),))
    os.symlink("..", data / "loop")
    try:
        read_class_folders([data])
    except ValueError as exc:
        message = str(exc)
    else:
        message = "taught"  # before: two classes, cats and loop (cats' photos again)
    assert "at least two class folders" in message and "loop (a link to" in message


# ---- 15. many classes of one photo each ---------------------------------------------------------

def test_one_photo_per_class_says_none_was_held_out_and_prints_no_full_matrix(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data", classes=45, per_class=1, side=16)
    code, out, err = run_teach(capsys, data, "--model", tiny_checkpoint, "-o", tmp_path / "out")
    report = json.loads(out)
    assert code == 0, err
    assert report["val_images"] == 0 and report["validation"] == "no photos held out: each class has one photo"
    assert "each class has only one photo" in err and "20%" not in out  # before: "20% of each class"
    assert "confusion" not in report and report["confusion_cells"] == []  # before: a 45×45 matrix, 2,000×2,000 in #28
    assert "printed as its non-zero cells" in err
    sidecar = json.loads((tmp_path / "out" / "data.safetensors.json").read_text())
    assert sidecar["taught"]["validation"] == report["validation"]


def test_the_report_of_2000_classes_is_small_and_complete_as_cells():
    rng = np.random.default_rng(0)
    classes = [f"c{i}" for i in range(2000)]
    true = np.arange(2000)[::5]
    logits = rng.normal(size=(len(true), 2000))
    report = evaluate(classes, true, logits, list(range(len(true))))
    text = json.dumps(report.to_json(matrix=False), indent=2)
    assert len(text) < 1_000_000 and "confusion" not in report.to_json(matrix=False)  # the matrix: 4 million counts
    cells = report.to_json(matrix=False)["confusion_cells"]
    rebuilt = np.zeros((2000, 2000), int)
    for cell in cells:
        rebuilt[classes.index(cell["true"]), classes.index(cell["seen_as"])] = cell["photos"]
    assert np.array_equal(rebuilt, report.confusion) and sum(c["photos"] for c in cells) == len(true)


def test_some_one_photo_classes_are_counted_in_the_validation_words(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data", classes=3, per_class=5, side=16)
    for c in range(3, 5):
        (data / f"class{c:04d}").mkdir()
        Image.fromarray(np.full((16, 16, 3), 40 * c, np.uint8)).save(data / f"class{c:04d}" / "only.png")
    code, out, err = run_teach(capsys, data, "--model", tiny_checkpoint, "-o", tmp_path / "out")
    report = json.loads(out)
    assert code == 0, err
    assert report["validation"] == "20% of each class (3 photos); 2 of the 5 classes have one photo: none held out from them"
    assert "confusion" in report and len(report["confusion"]) == 5  # few classes: the whole matrix, as before


def test_teach_window_says_why_no_photo_was_kept_aside(qtbot, tmp_path, tiny_checkpoint):
    noise_folders(tmp_path / "data", classes=3, per_class=1, side=16)
    from gui_helpers import taught_in_window

    teach = taught_in_window(qtbot, tiny_checkpoint, [tmp_path / "data"])
    assert teach.result is not None, teach.status.text()
    summary = teach.report.summary.text()
    assert "each class has only one photo" in summary and "unknown" in summary  # before: no reason given
    assert teach.result.taught.facts["validation"] == "no photos held out: each class has one photo"
    teach.done(0)


# ---- after the red-team pass: links named one by one, twins, unreadable repeats, duplicates ------

def test_class_folders_named_one_by_one_get_the_link_checks_too(tmp_path, photos):
    data = tmp_path / "data"
    class_folders(data, photos, 4, shift=29)
    os.symlink("..", data / "loop")  # named beside the others: it holds them all
    os.symlink(data / "cats", tmp_path / "kitty")  # a second name for cats
    dataset = read_class_folders([data / "cats", data / "cups", data / "loop", tmp_path / "kitty"])
    assert dataset.classes == ["cats", "cups"]  # before: cats, cups, loop (27 photos), kitty (cats again)
    assert dataset.counts() == {"cats": 4, "cups": 4}
    reasons = {path.name: why for path, why in dataset.skipped}
    assert set(reasons) == {"loop", "kitty"}
    assert reasons["loop"].startswith(f"a link to {tmp_path.resolve()}, which holds the class folders cats, cups")
    assert "(a loop)" in reasons["loop"] and "not followed" in reasons["loop"]
    assert "the same folder as the class folder cats" in reasons["kitty"]


def test_teach_with_a_loop_named_as_a_class_leaves_it_out_and_says_why(capsys, tmp_path, tiny_checkpoint, photos):
    data = tmp_path / "data"
    class_folders(data, photos, 4, shift=31)
    os.symlink("..", data / "loop")
    code, out, err = run_teach(capsys, "--model", tiny_checkpoint, "-o", tmp_path / "out",
                               data / "cats", data / "cups", data / "loop")
    report = json.loads(out)
    assert report["classes"] == ["cats", "cups"] and report["counts"] == {"cats": 4, "cups": 4}  # before: loop: 27
    assert code == 1 and f"left out {data / 'loop'}: a link to {tmp_path.resolve()}, which holds" in err


def test_two_links_to_one_hidden_folder_are_one_class(tmp_path, photos):
    data = tmp_path / "data"
    class_folders(data, photos, 2, shift=37)
    class_folders(data, photos, 2, shift=41, classes=((".stash", "rocket"),))
    os.symlink(".stash", data / "e")
    os.symlink(".stash", data / "f")
    dataset = read_class_folders([data])
    assert dataset.classes == ["cats", "cups", "e"]  # before: e and f, the same photos in two classes
    reasons = {path.name: why for path, why in dataset.skipped}
    assert set(reasons) == {"f"} and "the same folder as the class folder e" in reasons["f"]


def test_empty_and_unreadable_photos_are_not_called_repeats_and_not_counted(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data")
    val = noise_folders(tmp_path / "val", per_class=2, seed=3)
    for folder in (data, val):
        (folder / "class0000" / "empty.png").write_bytes(b"")
        (folder / "class0000" / "junk.png").write_bytes(b"not a photo at all" * 10)
    code, out, err = run_teach(capsys, data, "--val-dir", val, "--model", tiny_checkpoint, "-o", tmp_path / "out")
    report = json.loads(out)
    assert code == 1, err
    assert "also training photos" not in err  # before: "2 of the 8 validation photos are also training photos"
    assert report["counts"]["class0000"] == 5  # before: 7, the empty and the junk file counted
    assert report["val_images"] == 6 and report["train_images"] == 15
    skipped = {s["path"] for s in report["skipped"]}
    assert {str(val / "class0000" / "empty.png"), str(val / "class0000" / "junk.png")} <= skipped
    assert "the file is empty" in err


def test_a_class_whose_validation_photos_were_all_repeats_is_named(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data")
    for i in range(1, 5):  # class0000: one photo five times, so its held-out photos repeat trained ones
        shutil.copy(data / "class0000" / "0.png", data / "class0000" / f"{i}.png")
    code, out, err = run_teach(capsys, data, "--model", tiny_checkpoint, "-o", tmp_path / "out", "--val-split", "0.4")
    report = json.loads(out)
    assert code == 0, err
    assert report["val_images"] == 4
    # before: "40% of each class (4 photos)", as if each class were checked
    assert report["validation"].startswith("40% of each class (4 photos); no validation photo left for class0000")


def test_a_hard_linked_validation_folder_is_the_same_file_and_is_not_read(capsys, tmp_path, tiny_checkpoint,
                                                                          monkeypatch):
    from vit_gui.teach import overlap

    data = noise_folders(tmp_path / "data")
    val = tmp_path / "val"
    for photo in sorted(data.rglob("*.png")):  # cp -al
        (val / photo.parent.name).mkdir(parents=True, exist_ok=True)
        os.link(photo, val / photo.parent.name / photo.name)
    hashed = []
    real_digest = overlap._digest
    monkeypatch.setattr(overlap, "_digest", lambda *a: hashed.append(a[0]) or real_digest(*a))
    code, out, err = run_teach(capsys, data, "--val-dir", val, "--model", tiny_checkpoint, "-o", tmp_path / "out")
    report = json.loads(out)
    assert code == 0, err
    assert "the same file" in err and "the same bytes" not in err and hashed == []  # before: 30 files hashed
    assert report["val_images"] == 0 and len(report["notes"]) == 1  # before: two notes saying nothing is left
    assert err.count("unknown") == 1 and "no photos were kept aside" not in err


def test_teach_window_says_once_that_nothing_is_left_to_check(qtbot, tmp_path, tiny_checkpoint):

    data = noise_folders(tmp_path / "data", classes=2, per_class=1, side=16)
    for c in range(2):  # each class one photo three times: what is held out repeats what is trained on
        for i in range(1, 3):
            shutil.copy(data / f"class{c:04d}" / "0.png", data / f"class{c:04d}" / f"{i}.png")
    from gui_helpers import taught_in_window

    teach = taught_in_window(qtbot, tiny_checkpoint, [data])
    assert teach.result is not None, teach.status.text()
    summary = teach.report.summary.text()
    assert len(teach.result.taught.notes) == 1  # before: two, the second saying the first's end again
    assert summary.count("unknown") == 1 and summary.count("Nothing is left") == 1
    teach.done(0)


def test_duplicates_within_validation_are_counted_once(capsys, tmp_path, tiny_checkpoint):
    data = noise_folders(tmp_path / "data")
    val = noise_folders(tmp_path / "val", per_class=2, seed=5)
    shutil.copy(val / "class0000" / "0.png", val / "class0000" / "0-again.png")
    shutil.copy(val / "class0000" / "1.png", val / "class0001" / "stray.png")  # under another class too
    code, out, err = run_teach(capsys, data, "--val-dir", val, "--model", tiny_checkpoint, "-o", tmp_path / "out")
    report = json.loads(out)
    assert code == 0, err
    assert report["val_images"] == 6  # before: 8, two photos counted twice
    assert "2 validation photos repeat other validation photos and were counted once" in err
    assert "under class0000" in err and "also training photos" not in err

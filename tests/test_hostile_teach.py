"""Hostile inputs, round three: teaching (items 3, 4, 9, 10, 11, 14 and the teach messages
of 15). Each failed on the code before its fix: the report drawn on the GUI thread (a
text per matrix cell), "$" class names breaking the finish handler, two saves taking one
name, a temporary model left per Teach, an orphan sidecar after a failed save, two classes
called "cats", --val-split 0.99 blamed on unreadable images, `-o model.pth` made a folder."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading

import numpy as np
import pytest
from test_teach import class_folders, run_teach

from vit_gui.model.checkpoints import load_model
from vit_gui.teach.report import evaluate

# ---- 3 and 4 and 10: the Teach window --------------------------------------------------------

def test_teach_window_with_dollar_names_draws_off_the_gui_thread_and_leaves_no_temporary_model(
        qtbot, tmp_path, tiny_checkpoint, photos, monkeypatch, private_data_dir):
    from matplotlib.figure import Figure


    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where a temporary model would go
    drawn_on = []
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (drawn_on.append(threading.current_thread()),
                                                                  savefig(self, *a, **k))[1])
    names = ("$", "$$", "$x^$")  # matplotlib's maths markers, as class names
    class_folders(tmp_path / "data", photos, 4, shift=29,
                  classes=tuple(zip(names, ("chelsea", "coffee", "rocket"))))
    from gui_helpers import taught_in_window

    teach = taught_in_window(qtbot, tiny_checkpoint, [tmp_path / "data"])
    assert teach.result is not None, teach.status.text()
    assert not teach.report.confusion.pixmap().isNull() and not teach.report.plot.pixmap().isNull()
    assert drawn_on and threading.main_thread() not in drawn_on  # every picture drawn by the worker
    assert list(scratch.iterdir()) == []  # no vit-gui-taught-*/draft.safetensors
    from gui_helpers import answer_next_dialog

    answer_next_dialog("")  # an empty name keeps the suggestion, the classes' names
    teach.save_model()
    saved = list((private_data_dir / "models").glob("*.safetensors"))
    assert len(saved) == 1 and load_model(saved[0]).info.labels == names
    assert load_model(saved[0]).info.name == "$, $$, $x^$"
    teach.done(0)


@pytest.mark.parametrize("count", [2, 30, 200, 2000])
def test_the_confusion_matrix_stays_light_and_readable_for_many_classes(count):
    from vit_gui.figures import figure_png
    from vit_gui.teach.figures import MAX_COUNTED, MAX_NAMED, draw_confusion

    rng = np.random.default_rng(count)
    classes = [f"class ${i}" for i in range(count)]
    true = np.repeat(np.arange(count), 2)
    logits = rng.normal(size=(len(true), count))
    logits[np.arange(len(true)), true] += 3
    report = evaluate(classes, true, logits, list(range(len(true))))
    figures = []
    png = figure_png(lambda figure: (figures.append(figure), draw_confusion(figure, report)))
    axes = figures[0].axes[0]
    cell_texts = len(axes.texts)
    tick_labels = [t for t in axes.get_xticklabels() + axes.get_yticklabels() if t.get_text()]
    assert png.startswith(b"\x89PNG")
    assert cell_texts == (count * count if count <= MAX_COUNTED else 0)  # 40,000 texts for 200 classes before
    assert len(tick_labels) == (2 * count if count <= MAX_NAMED else 0)
    mixed = report.most_confused(10)
    wrong = report.confusion.sum() - np.trace(report.confusion)
    assert sum(n for _, _, n in mixed) <= wrong and (mixed or wrong == 0)
    assert all(a != b for a, b, _ in mixed) and [n for *_, n in mixed] == sorted((n for *_, n in mixed), reverse=True)


# ---- 9. two saves under one name at once -------------------------------------------------------

def test_two_saves_under_one_name_at_once_keep_both_models(tmp_path, tiny_checkpoint):
    from vit_gui.model.checkpoints import load_model as load
    from vit_gui.teach.probe import Probe
    from vit_gui.teach.save import save_taught_model

    base = load(tiny_checkpoint).info
    probes = [Probe(np.full((2, 192), i, np.float32), np.zeros(2, np.float32), 0.1, []) for i in (1, 2)]
    for trial in range(6):
        folder = tmp_path / f"trial-{trial}"
        barrier, saved = threading.Barrier(2), []

        def save(probe, barrier=barrier, saved=saved, folder=folder):
            barrier.wait()
            saved.append(save_taught_model(tiny_checkpoint, base, "digest", ["a", "b"], probe, {}, "pets", folder))

        threads = [threading.Thread(target=save, args=(p,)) for p in probes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(p.name for p in saved) == ["pets-2.safetensors", "pets.safetensors"], trial
        heads = sorted(float(load(p).model.head.weight[0, 0].detach()) for p in saved)
        assert heads == [1.0, 2.0]  # each its own weights, none overwritten
        assert sorted(p.name for p in folder.iterdir()) == ["pets-2.safetensors", "pets-2.safetensors.json",
                                                           "pets.safetensors", "pets.safetensors.json"]


# ---- 11. a save that fails leaves nothing --------------------------------------------------------

def test_a_save_on_a_full_disk_leaves_no_orphan(tmp_path, tiny_checkpoint):
    """The disk fills up (a file-size limit: writes past 64 KB fail with EFBIG) while the
    model is written; afterwards the folder is as it was."""
    folder = tmp_path / "models"
    folder.mkdir()
    script = textwrap.dedent(f"""
        import resource, signal, sys
        import numpy as np
        from vit_gui.model.checkpoints import load_model
        from vit_gui.teach.probe import Probe
        from vit_gui.teach.save import save_taught_model
        base = load_model({str(tiny_checkpoint)!r}).info
        probe = Probe(np.ones((2, 192), np.float32), np.zeros(2, np.float32), 0.1, [])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
        try:
            save_taught_model({str(tiny_checkpoint)!r}, base, "d", ["a", "b"], probe, {{}}, "pets", {str(folder)!r})
        except OSError as exc:
            print("failed:", exc.errno)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "failed: 27" in done.stdout, done.stdout + done.stderr  # EFBIG: the write really failed
    assert list(folder.iterdir()) == []  # no pets.safetensors.json, no hidden .part


def test_an_interrupt_between_weights_and_sidecar_takes_the_weights_back(tmp_path, monkeypatch):
    from vit_gui.teach import save

    link = os.link
    calls = []

    def interrupted_second_link(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return link(source, target)

    monkeypatch.setattr(save.os, "link", interrupted_second_link)
    with pytest.raises(KeyboardInterrupt):
        save.claim_and_write(tmp_path, "pets", b"weights", b"{}")
    assert [str(c).rsplit("/", 1)[-1] for c in calls] == ["pets.safetensors", "pets.safetensors.json"]
    assert list(tmp_path.iterdir()) == []


def test_an_orphan_sidecar_does_not_make_a_save_take_another_models_name(tmp_path):
    from vit_gui.teach.save import claim_and_write

    (tmp_path / "pets.safetensors.json").write_text("{}")  # left by an old crash
    assert claim_and_write(tmp_path, "pets", b"w", b"{}").name == "pets-2.safetensors"
    assert (tmp_path / "pets.safetensors.json").read_text() == "{}"  # not adopted, not replaced


# ---- 14. two class folders of one name ---------------------------------------------------------

def test_two_class_folders_called_cats_are_refused(capsys, tmp_path, tiny_checkpoint, photos):
    class_folders(tmp_path / "a", photos, 3, shift=11, classes=(("cats", "chelsea"), ("dogs", "coffee")))
    class_folders(tmp_path / "b", photos, 3, shift=13, classes=(("Cats", "rocket"),))
    code, out, err = run_teach(capsys, tmp_path / "a" / "cats", tmp_path / "a" / "dogs", tmp_path / "b" / "Cats",
                               "--model", tiny_checkpoint, "-o", tmp_path / "out")
    assert code == 2 and out == "" and "same name" in err and "cats" in err and "Cats" in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# ---- 15. teach's messages ----------------------------------------------------------------------

def test_a_large_validation_share_still_teaches_from_one_photo_per_class(capsys, tmp_path, tiny_checkpoint, photos):
    class_folders(tmp_path / "data", photos, 5, shift=23)
    code, out, err = run_teach(capsys, tmp_path / "data", "--model", tiny_checkpoint, "-o", tmp_path / "out",
                               "--val-split", "0.99")
    assert code == 0, err
    report = json.loads(out)
    assert report["train_images"] == 2 and report["val_images"] == 8
    assert "unreadable" not in err


def test_output_named_like_another_model_format_is_refused(capsys, tmp_path, tiny_checkpoint, photos):
    class_folders(tmp_path / "data", photos, 3, shift=19)
    code, out, err = run_teach(capsys, tmp_path / "data", "--model", tiny_checkpoint, "-o", tmp_path / "pets.pth")
    assert code == 2 and "name it pets.safetensors" in err and not (tmp_path / "pets.pth").exists()

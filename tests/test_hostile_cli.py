"""Hostile inputs, round three: `vit-gui classify` losing or destroying work (items 5, 6, 7,
8 and 13). Each failed on the code before its fix: a traceback and no output for a NaN
check, a whole batch failed for one overflowing photo, a photo replaced by JSON, a pipe, a
device node and a symlink replaced by files, nothing written after Ctrl+C."""

import json
import os
import signal
import stat
import subprocess
import sys
import threading

import pytest
from PIL import Image

from vit_gui.cli import main
from vit_gui.model.vit import VisionTransformer


def strict_json(text):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def classify(capsys, *argv):
    code = main(["classify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


# ---- 5. a check whose curves are not numbers ---------------------------------------------------

def test_a_check_that_overflows_is_an_error_beside_its_photo_and_the_json_is_written(
        capsys, tiny_checkpoint, photo_folder, monkeypatch):
    original = VisionTransformer.forward

    def overflows_when_patches_go(self, pixels, *args, keep=None, **kwargs):
        out = original(self, pixels, *args, keep=keep, **kwargs)
        if keep is not None:  # some removal steps: the model's numbers overflow
            out.logits[~keep.all(dim=1)] = float("nan")
        return out

    monkeypatch.setattr(VisionTransformer, "forward", overflows_when_patches_go)
    code, out, err = classify(capsys, photo_folder / "chelsea.jpg", photo_folder / "coffee.png", "--model",
                              tiny_checkpoint, "--faithfulness")
    records = strict_json(out)
    assert code == 1 and len(records) == 2
    for record in records:
        assert record["top"] and record["error"] is None  # the classification is kept
        assert "not a number" in record["faithfulness"]["error"]
    assert "could not be checked" in err
    code, out, _ = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--faithfulness",
                            "--format", "csv")
    assert code == 1 and "not a number" in out.splitlines()[1]


# ---- 6. one overflowing photo in a batch -------------------------------------------------------

def test_one_overflowing_photo_fails_alone_in_its_batch(capsys, tiny_checkpoint, photo_folder, monkeypatch):
    Image.new("RGB", (200, 160), (255, 255, 255)).save(photo_folder / "white.png")
    original = VisionTransformer.forward

    def overflows_on_white(self, pixels, *args, **kwargs):
        out = original(self, pixels, *args, **kwargs)
        white = pixels.flatten(1).min(dim=1).values > 0.99  # every pixel white (mean and std 0.5)
        out.logits[white] = float("inf")
        return out

    monkeypatch.setattr(VisionTransformer, "forward", overflows_on_white)
    code, out, _ = classify(capsys, photo_folder, "--model", tiny_checkpoint)  # all four in one batch of 8
    records = {os.path.basename(r["path"]): r for r in strict_json(out)}
    assert code == 1 and len(records) == 4
    assert "not a number" in records["white.png"]["error"]
    assert all(records[name]["top"] and records[name]["error"] is None
               for name in ("chelsea.jpg", "coffee.png", "rocket.jpg"))


# ---- 7. -o naming an input ---------------------------------------------------------------------

def test_an_output_that_is_one_of_the_photos_is_refused(capsys, tiny_checkpoint, photo_folder, tmp_path):
    photo = photo_folder / "chelsea.jpg"
    before = photo.read_bytes()
    code, out, err = classify(capsys, photo, photo_folder / "coffee.png", "--model", tiny_checkpoint, "-o", photo)
    assert code == 2 and "one of the photos" in err and photo.read_bytes() == before
    alias = tmp_path / "alias.jpg"  # the same file under another name
    os.link(photo, alias)
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "-o", alias)
    assert code == 2 and "one of the photos" in err and photo.read_bytes() == before
    model_bytes = tiny_checkpoint.read_bytes()
    code, _, err = classify(capsys, photo, "--model", tiny_checkpoint, "-o", tiny_checkpoint)
    assert code == 2 and "the model in use" in err and tiny_checkpoint.read_bytes() == model_bytes


# ---- 8. -o onto a pipe, a device node, a symlink -----------------------------------------------

def test_output_into_a_named_pipe_reaches_its_reader(capsys, tiny_checkpoint, photo_folder, tmp_path):
    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    received = {}
    reader = threading.Thread(target=lambda: received.update(text=fifo.read_text()), daemon=True)
    reader.start()
    code, _, _ = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", fifo)
    reader.join(20)
    assert code == 0 and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert strict_json(received["text"])[0]["path"].endswith("chelsea.jpg")


def test_output_onto_a_device_node_writes_through_it(capsys, tiny_checkpoint, photo_folder, tmp_path):
    if os.geteuid() == 0:  # a null device of our own (root here): the real /dev/null is not put at risk
        device = tmp_path / "null"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    else:
        device = "/dev/null"
    code, _, _ = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", device)
    assert code == 0 and stat.S_ISCHR(os.lstat(device).st_mode)


def test_output_through_a_symlink_writes_its_target(capsys, tiny_checkpoint, photo_folder, tmp_path):
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "results.json"
    target.write_text("[]\n")  # an earlier run's results (other files need --force: tests/test_round4_output.py)
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    code, _, _ = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", link)
    assert code == 0 and link.is_symlink() and os.readlink(link) == str(target)
    assert strict_json(target.read_text())[0]["top"]


# ---- 13. Ctrl+C and SIGTERM keep what finished -------------------------------------------------

@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_writes_what_finished(tiny_checkpoint, photo_folder, tmp_path, signal_number):
    many = tmp_path / "many"
    many.mkdir()
    for i in range(300):  # hard links: 300 photos without 300 encodings
        os.link(photo_folder / "chelsea.jpg", many / f"photo-{i:03d}.jpg")
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "vit_gui", "classify", str(many), "--model",
                                str(tiny_checkpoint), "--batch-size", "1", "-o", str(out)],
                               stderr=subprocess.PIPE, text=True, env=env)
    for line in process.stderr:
        if "[12/300]" in line:
            process.send_signal(signal_number)
            break
    rest = process.stderr.read()
    code = process.wait(60)
    assert code == 130, rest
    records = strict_json(out.read_text())
    assert 12 <= len(records) < 300 and all(r["top"] for r in records)
    assert [os.path.basename(r["path"]) for r in records] == [f"photo-{i:03d}.jpg" for i in range(len(records))]
    assert f"interrupted after {len(records)} of 300 images" in rest
    assert "Traceback" not in rest
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no half file left


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_a_ctrl_c_after_the_last_photo_was_written_leaves_a_complete_run(capsys, tiny_checkpoint, photo_folder,
                                                                          tmp_path, monkeypatch, kind):
    """A Ctrl+C that lands once the last photo is written (in a cluster run: while the feeder
    is asked for a batch that does not exist) was called an interrupted run: exit 130,
    "interrupted after N of N images", and an earlier file at -o kept, the finished results
    set aside beside it as NAME.partial.EXT."""
    import vit_gui.cli.classify as classify_command

    out = tmp_path / f"results.{kind}"
    photos = sorted(p for p in photo_folder.iterdir() if p.is_file())
    code, _, err = classify(capsys, photos[0], "--model", tiny_checkpoint, "--format", kind, "-o", out)
    assert code == 0, err  # an earlier run's file, which only a complete run replaces
    every_photo = classify_command.classify_all

    def then_ctrl_c(*args, **kwargs):
        yield from every_photo(*args, **kwargs)
        raise KeyboardInterrupt  # as Python raises it when the signal comes while the run winds down

    monkeypatch.setattr(classify_command, "classify_all", then_ctrl_c)
    code, _, err = classify(capsys, *photos, "--model", tiny_checkpoint, "--format", kind, "-o", out, "--force")
    assert (code, err.splitlines()[-1]) == (0, "vit-gui: interrupted after every image was written (all "
                                                f"{len(photos)}): the run is complete"), err
    text = out.read_text()
    records = strict_json(text) if kind == "json" else [strict_json(line) for line in text.splitlines()]
    assert [os.path.basename(r["path"]) for r in records] == [p.name for p in photos]
    assert all(r["top"] for r in records)
    assert not [p.name for p in tmp_path.iterdir() if ".part" in p.name]  # neither NAME.partial.EXT nor a .part


def test_the_json_writer_turns_a_stray_nan_into_null():
    from vit_gui.record import json_safe

    assert json_safe({"a": [1.0, float("nan"), {"b": float("inf")}], "c": "x"}) == {"a": [1.0, None, {"b": None}],
                                                                                   "c": "x"}

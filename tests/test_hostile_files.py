"""Hostile files and interrupted work, round two: each numbered defect of the issue as a
test that failed before its fix (special files, confinement, markup, overwriting, NaN,
huge settings, lost results)."""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vit_gui.cli import main
from vit_gui.errors import CheckpointError, ImageLoadError, ModelConfigError
from vit_gui.file_kinds import not_regular_reason
from vit_gui.images import load_image
from vit_gui.model.checkpoints import load_model


def run_cli(capsys, *argv):
    code = main(["classify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def finishes(work, seconds=20):
    """Run `work` in a thread; the test fails instead of hanging when it blocks (a pipe)."""
    box = {}

    def run():
        try:
            box["value"] = work()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked: it opened something that never ends"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def sidecar(checkpoint, **facts):
    path = checkpoint.with_name(checkpoint.name + ".json")
    data = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**data, **facts}))
    return path


# ---- 2. special files -------------------------------------------------------------------------

def test_a_pipe_or_a_device_is_named_not_read(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError, match="this is a named pipe, not an image"):
        finishes(lambda: load_image(fifo))
    with pytest.raises(ImageLoadError, match="this is a device, not an image"):
        finishes(lambda: load_image("/dev/zero"))
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    assert "symlink loop" in not_regular_reason(loop)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "typo.jpg")


def test_labels_file_that_is_a_pipe_fails_the_model_instead_of_hanging(tiny_checkpoint):
    os.mkfifo(tiny_checkpoint.parent / "labels.fifo")
    tiny_checkpoint.with_name(tiny_checkpoint.name + ".json").write_text(
        json.dumps({"num_heads": 3, "labels_file": "labels.fifo"}))
    with pytest.raises(ModelConfigError, match="labels file labels.fifo is a named pipe"):
        finishes(lambda: load_model(tiny_checkpoint))


def test_model_that_is_a_pipe_exits_2_with_its_kind(capsys, tmp_path, photo_folder):
    fifo = tmp_path / "model.pth"
    os.mkfifo(fifo)
    code, out, err = finishes(lambda: run_cli(capsys, photo_folder / "chelsea.jpg", "--model", fifo))
    assert code == 2 and out == "" and "model.pth is a named pipe" in err
    with pytest.raises(CheckpointError, match="is a device"):
        load_model("/dev/zero")


def test_settings_file_that_is_a_pipe_starts_the_window_with_defaults(tmp_path):
    config = tmp_path / "config"
    (config / "vit-gui").mkdir(parents=True)
    os.mkfifo(config / "vit-gui" / "vit-gui.ini")
    code = ("from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from vit_gui.gui.main_window import MainWindow\n"
            "w = MainWindow(); w.show()\n"
            "for _ in range(20): app.processEvents()\n"
            "print('NOTICE', w.notice.isVisible(), w.notice.text())\n"
            "w.close()\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(config), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "NOTICE True" in proc.stdout and "is a named pipe" in proc.stdout and "not saved" in proc.stdout


# ---- 4. work lost to tracebacks ---------------------------------------------------------------

@pytest.mark.parametrize("place, message", [
    (lambda tmp: tmp / "a-file", "is a file, not a folder"),
    (lambda tmp: tmp / "loop", "is a link that points to itself"),
    (lambda tmp: tmp / "locked" / "maps", "cannot be created|not writable"),
])
def test_unusable_maps_folder_exits_2_before_any_work(capsys, tmp_path, tiny_checkpoint, photo_folder, place, message):
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o500)
    try:
        code, out, err = run_cli(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--maps", place(tmp_path))
    finally:
        (tmp_path / "locked").chmod(0o700)
    if os.geteuid() == 0 and "locked" in str(place(tmp_path)):
        assert code == 0  # root writes anywhere: nothing to refuse
        return
    assert code == 2 and out == "" and any(m in err for m in message.split("|")), err
    assert (tmp_path / "a-file").read_text() == "mine"


def test_output_that_cannot_be_written_still_prints_the_results(capsys, tmp_path, tiny_checkpoint, photo_folder,
                                                                monkeypatch):
    import vit_gui.fileio

    def full_disk(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vit_gui.fileio, "atomic_write_bytes", full_disk)
    code, out, err = run_cli(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", tmp_path / "r.json")
    assert code == 1 and "No space left on device" in err
    assert json.loads(out)[0]["top"]  # the work done is not lost


def test_maps_that_cannot_be_written_keep_the_classification(capsys, tmp_path, tiny_checkpoint, photo_folder,
                                                              monkeypatch):
    import vit_gui.fileio

    monkeypatch.setattr(vit_gui.fileio, "atomic_write_bytes",
                        lambda path, data: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    code, out, err = run_cli(capsys, photo_folder / "coffee.png", "--model", tiny_checkpoint, "--maps", tmp_path / "m")
    record = json.loads(out)[0]
    assert code == 1 and record["top"] and record["error"] is None
    assert "No space left" in record["maps"]["error"] and "could not be written" in err


def test_tiny_input_size_and_deep_json_are_messages(tiny_checkpoint):
    sidecar(tiny_checkpoint, input_size=8)
    with pytest.raises(ModelConfigError, match="smaller than one 16-pixel patch"):
        load_model(tiny_checkpoint)
    tiny_checkpoint.with_name(tiny_checkpoint.name + ".json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelConfigError, match="nested too deeply|not a usable JSON|expected a JSON object"):
        load_model(tiny_checkpoint)


def test_window_says_why_a_model_cannot_run_instead_of_loading_for_ever(qtbot, tmp_path, tiny_checkpoint):
    from gui_helpers import make_window

    sidecar(tiny_checkpoint, input_size=8)
    window = make_window(qtbot, tmp_path / "s.ini")
    window.models.add_file(str(tiny_checkpoint))
    qtbot.waitUntil(lambda: window.models.loading is None, timeout=30_000)
    assert "smaller than one 16-pixel patch" in window.model_panel.status.text()


# ---- 5. labels_file stays in the sidecar's folder ---------------------------------------------

@pytest.mark.parametrize("name", ["../secrets.txt", "/etc/hostname", "sub/../../secrets.txt"])
def test_labels_file_outside_the_sidecar_folder_is_refused(tmp_path, tiny_hf, name):
    from conftest import write_checkpoint

    (tmp_path / "secrets.txt").write_text("password=hunter2\n")
    folder = tmp_path / "model"
    folder.mkdir()
    checkpoint = write_checkpoint(tiny_hf, folder, sidecar={"num_heads": 3, "labels_file": name})
    with pytest.raises(ModelConfigError, match="must name a file in the sidecar's own folder"):
        load_model(checkpoint)


def test_labels_file_inside_the_folder_still_works(tmp_path, tiny_hf):
    from conftest import write_checkpoint

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "names.txt").write_text("\n".join(f"n{i}" for i in range(10)))
    checkpoint = write_checkpoint(tiny_hf, tmp_path, sidecar={"num_heads": 3, "labels_file": "sub/names.txt"})
    assert load_model(checkpoint).info.labels[3] == "n3"


# ---- 6. markup from files is shown as text ----------------------------------------------------

def test_markup_in_a_models_facts_is_shown_literally(qtbot, tmp_path, tiny_hf, photo_folder):
    from conftest import write_checkpoint
    from gui_helpers import drop, make_window, wait_idle, wait_model

    badge = "<h1 style='color:red'>TRUSTED MODEL ✔</h1><img src='/etc/passwd'>"
    labels = [f"<a href='http://x'>label {i}</a>" for i in range(10)]
    checkpoint = write_checkpoint(tiny_hf, tmp_path, sidecar={"num_heads": 3, "name": badge, "labels": labels,
                                                              "license": "<b>MIT</b>", "source": "<img src=x>"})
    window = make_window(qtbot, tmp_path / "s.ini", checkpoint)
    wait_model(qtbot, window)
    from PySide6.QtGui import QTextDocument

    shown = QTextDocument()
    shown.setHtml(window.model_panel.status.text() + window.model_panel.details.text())
    assert badge in shown.toPlainText() and "<img src=x>" in shown.toPlainText()  # the tags are text
    drop(window, paths=[photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    (key,) = window.session.records
    window.results.click_class(key, window.session.records[key].top[0].index)
    qtbot.waitUntil(lambda: window.map_view.caption.text().startswith("evidence for"), timeout=30_000)
    from PySide6.QtCore import Qt

    assert window.map_view.caption.textFormat() == Qt.TextFormat.PlainText
    assert "<a href=" in window.map_view.caption.text()
    assert window.status_label.textFormat() == Qt.TextFormat.PlainText


# ---- 7. --maps never overwrites the user's files ----------------------------------------------

def test_maps_in_the_photos_folder_leave_the_users_files_alone(capsys, tmp_path, tiny_checkpoint, photos):
    Image.fromarray(photos["rocket"]).save(tmp_path / "a.png")
    (tmp_path / "a.rollout.png").write_bytes(b"the user's own picture")
    (tmp_path / "a.rollout.npy").write_bytes(b"the user's own data")
    code, out, _ = run_cli(capsys, tmp_path / "a.png", "--model", tiny_checkpoint, "--maps", tmp_path)
    assert code == 0
    assert (tmp_path / "a.rollout.png").read_bytes() == b"the user's own picture"
    assert (tmp_path / "a.rollout.npy").read_bytes() == b"the user's own data"
    maps = json.loads(out)[0]["maps"]
    assert maps["overlay"].endswith("a-2.rollout.png") and maps["npy"].endswith("a-2.rollout.npy")


def test_written_files_keep_their_mode_or_follow_the_umask(capsys, tmp_path, tiny_checkpoint, photo_folder):
    from vit_gui.fileio import UMASK, atomic_write_text

    fresh = atomic_write_text(tmp_path / "new.txt", "x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~UMASK
    shared = tmp_path / "shared.csv"
    shared.write_text("path,rank,label,index,prob,error,note\n")  # an earlier run's results
    shared.chmod(0o664)
    run_cli(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--format", "csv", "-o", shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664 and shared.read_text().startswith("path,")


# ---- 9. NaN is never a result ------------------------------------------------------------------

def strict_json(text):
    def refuse(constant):
        raise ValueError(f"invalid JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_infinite_weights_are_refused_by_name(tmp_path, tiny_hf, bad):
    state = {k: v.clone() for k, v in tiny_hf.state_dict().items()}
    state["classifier.weight"][3, 5] = bad
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    path.with_name("nan.pth.json").write_text(json.dumps({"num_heads": 3}))
    with pytest.raises(CheckpointError, match=r"'head.weight' holds values that are not numbers"):
        load_model(path)


def test_integer_weights_are_refused_by_name(tmp_path, tiny_hf):
    state = {k: v.clone() for k, v in tiny_hf.state_dict().items()}
    state["vit.embeddings.cls_token"] = state["vit.embeddings.cls_token"].to(torch.int8)
    torch.save(state, tmp_path / "int.pth")
    (tmp_path / "int.pth.json").write_text(json.dumps({"num_heads": 3}))
    with pytest.raises(CheckpointError, match="'cls_token' holds int8 values, not floating-point weights"):
        load_model(tmp_path / "int.pth")


def test_tiny_std_is_refused_and_the_json_stays_valid(capsys, tiny_checkpoint, photo_folder):
    sidecar(tiny_checkpoint, std=[1e-320, 1e-320, 1e-320])
    code, out, err = run_cli(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint)
    assert code == 2 and "'std' must be three numbers from 0.001 to 10" in err


def test_non_finite_output_is_an_error_for_the_image_and_json_stays_strict(capsys, tiny_checkpoint, photo_folder,
                                                                           monkeypatch):
    from vit_gui.model.vit import VisionTransformer

    original = VisionTransformer.forward

    def overflowing(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        out.logits[:] = float("inf")
        return out

    monkeypatch.setattr(VisionTransformer, "forward", overflowing)
    code, out, _ = run_cli(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint)
    [record] = strict_json(out)
    assert code == 1 and record["top"] == [] and "not a number" in record["error"]


def test_float_image_with_a_nan_pixel_says_so(tmp_path):
    array = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64)
    array[5, 7] = np.nan
    Image.fromarray(array, "F").save(tmp_path / "depth.tif")
    loaded = load_image(tmp_path / "depth.tif")
    assert any("1 pixel is not a number" in note for note in loaded.notes)
    assert np.asarray(loaded.image).max() == 255  # the rest keeps its range, not all black
    Image.fromarray(np.full((8, 8), np.nan, np.float32), "F").save(tmp_path / "all-nan.tif")
    with pytest.raises(ImageLoadError, match="no pixel of this image holds a number"):
        load_image(tmp_path / "all-nan.tif")


# ---- 10. remembered lists are capped ----------------------------------------------------------

def test_a_huge_recent_list_is_capped_on_read(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from vit_gui.gui.settings import MAX_RECENT, Settings, settings_problem

    path = tmp_path / "s.ini"
    q = QSettings(str(path), QSettings.Format.IniFormat)
    q.setValue("recent_files", [f"/photos/{i}.jpg" for i in range(200_000)])
    q.sync()
    settings = Settings(QSettings(str(path), QSettings.Format.IniFormat))
    assert len(settings.paths("recent_files")) == MAX_RECENT
    from gui_helpers import make_window

    window = make_window(qtbot, path)
    assert len(window.menus.recent_menu.actions()) == MAX_RECENT
    assert "far more than this app writes" in settings_problem(path)  # a file that big is not opened at start-up


# ---- smaller ones --------------------------------------------------------------------------------

def test_head_zero_is_refused(capsys, tiny_checkpoint, photo_folder):
    code, _, err = run_cli(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--maps", "m",
                           "--layer", "1", "--head", "0")
    assert code == 2 and "head must be 1..3, got 0" in err


# ---- 1. checkpoint memory follows the file ----------------------------------------------------

def safetensors_bytes(header: dict, body: bytes) -> bytes:
    import struct

    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def test_aliased_entries_are_refused_before_allocating(tmp_path):
    """The memory bomb: many entries over one block (here 2,000 x 64 KiB would be 128 MiB)."""
    block = 64 * 1024
    header = {f"blocks.{i}.w": {"dtype": "F32", "shape": [block // 4], "data_offsets": [0, block]} for i in range(2000)}
    path = tmp_path / "bomb.safetensors"
    path.write_bytes(safetensors_bytes(header, bytes(block)))
    with pytest.raises(CheckpointError, match="share bytes"):
        load_model(path)


@pytest.mark.parametrize("entry, message", [
    ({"dtype": "F32", "shape": [float("inf")], "data_offsets": [0, 4]}, "impossible shape"),  # JSON Infinity
    ({"dtype": "F32", "shape": [2**63, 0], "data_offsets": [0, 0]}, "impossible shape"),
    ({"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}, "impossible shape"),
    ({"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}, "dtype 'C64', which is not a weight type"),
    ({"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}, "does not fit its data"),
])
def test_lying_entries_are_named(tmp_path, entry, message):
    path = tmp_path / "lie.safetensors"
    path.write_bytes(safetensors_bytes({"cls_token": entry}, bytes(64)))
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_a_model_bigger_than_its_file_is_refused_before_it_is_built(tmp_path, tiny_hf):
    """1,000 blocks named by one tiny tensor each would build a 1.8 GB model."""
    from vit_gui.model.checkpoints import read_checkpoint

    state, _, _ = read_checkpoint(write_pth(tmp_path, tiny_hf), {"num_heads": 3})
    for i in range(4, 1000):
        state[f"blocks.{i}.norm1.weight"] = torch.ones(1)
    torch.save(state, tmp_path / "deep.pth")
    (tmp_path / "deep.pth.json").write_text(json.dumps({"num_heads": 3}))
    with pytest.raises(CheckpointError, match="describes a model of .* numbers but holds"):
        load_model(tmp_path / "deep.pth")


def write_pth(tmp_path, model):
    path = tmp_path / "model.pth"
    torch.save(model.state_dict(), path)
    return path


def test_a_compressed_torch_zip_is_refused(tmp_path, tiny_hf):
    import zipfile

    plain = write_pth(tmp_path, tiny_hf)
    packed = tmp_path / "packed.pth"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, source.read(item.filename))
    with pytest.raises(CheckpointError, match="compressed entries"):
        load_model(packed)


def test_a_sparse_file_of_zeros_is_not_read_whole(tmp_path):
    path = tmp_path / "zeros.pth"
    with path.open("wb") as fh:
        fh.truncate(4 * 1024**3)  # 4 GB, sparse: reading it whole took 16 s
    with pytest.raises(CheckpointError, match="starts with zero bytes"):
        finishes(lambda: load_model(path), seconds=5)


# ---- 8. a full-size export is blended in strips, off the GUI thread ----------------------------

def test_strip_wise_overlay_equals_one_pass(monkeypatch, photos):
    import vit_gui.explain.overlay as ov
    from vit_gui.preprocess import Geometry

    image = Image.fromarray(photos["astronaut"])
    grid_map = np.random.default_rng(1).random((14, 14))
    geometry = Geometry(image.size, (224, 224), (20.0, -10.0, 480.0, 500.0))
    whole = np.asarray(ov.overlay(image, grid_map, geometry, "jet", 0.6))
    monkeypatch.setattr(ov, "STRIP_PIXELS", 3 * image.width + 7)  # many strips of 3 rows
    strips = np.asarray(ov.overlay(image, grid_map, geometry, "jet", 0.6))
    assert np.array_equal(whole, strips)


def test_window_exports_on_another_thread(qtbot, tmp_path, tiny_checkpoint, photo_folder, monkeypatch):
    from gui_helpers import drop, make_window, wait_idle, wait_map

    import vit_gui.explain.overlay as ov

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    drop(window, paths=[photo_folder / "chelsea.jpg"])
    wait_idle(qtbot, window)
    wait_map(qtbot, window.map_view)
    threads, original = [], ov.overlay

    def spy(image, *args, **kwargs):
        threads.append((threading.current_thread() is threading.main_thread(), image.size))
        return original(image, *args, **kwargs)

    monkeypatch.setattr(ov, "overlay", spy)
    target = tmp_path / "export.png"
    assert window.saving.png(str(target))
    qtbot.waitUntil(lambda: window.status_label.text() == f"saved {target}", timeout=30_000)
    full_size = [on_gui for on_gui, size in threads if size == (451, 300)]
    assert full_size == [False] and target.is_file()


# ---- smaller ones: silent skips, terminal escapes, spreadsheet formulas -------------------------

def test_what_a_folder_holds_but_cannot_be_read_is_listed_with_a_reason(capsys, tmp_path, tiny_checkpoint, photos):
    folder = tmp_path / "phone"
    (folder / "locked").mkdir(parents=True)
    Image.fromarray(photos["coffee"]).save(folder / "coffee.jpg")
    (folder / "IMG_0001.HEIC").write_bytes(b"\0\0\0\x18ftypheic")
    (folder / "logo.svg").write_text("<svg/>")
    Image.fromarray(photos["rocket"]).save(folder / "locked" / "rocket.jpg")
    (folder / "locked").chmod(0o000)
    try:
        code, out, err = run_cli(capsys, folder, "--model", tiny_checkpoint)
    finally:
        (folder / "locked").chmod(0o700)
    records = {Path(r["path"]).name: r for r in strict_json(out)}
    assert records["coffee.jpg"]["top"]
    assert "cannot read" in records["IMG_0001.HEIC"]["error"]  # tried as HEIC now: a header alone is no photo
    assert "SVG" in records["logo.svg"]["error"]
    if os.geteuid() != 0:  # root reads a 0o000 folder anyway
        assert "cannot be opened (permission denied)" in records["locked"]["error"]
    assert code == 1 and "skipped" in err


def test_escape_sequences_never_reach_the_terminal_and_formulas_are_neutralised(capsys, tmp_path, tiny_hf, photos):
    from conftest import write_checkpoint

    labels = ["=HYPERLINK(\"http://evil\")"] + ["\x1b]0;pwned\x07label"] * 9
    checkpoint = write_checkpoint(tiny_hf, tmp_path, sidecar={"num_heads": 3, "labels": labels})
    photo = tmp_path / "\x1b[2Jphoto.png"
    Image.fromarray(photos["chelsea"]).save(photo)
    Image.fromarray(photos["coffee"]).save(tmp_path / "plain.png")  # two images: progress names each on stderr
    code, out, err = run_cli(capsys, photo, tmp_path / "plain.png", "--model", checkpoint, "--format", "csv",
                             "--top-k", "10")
    assert "\x1b" not in err and "\\x1b[2Jphoto.png" in err
    assert "\x1b" not in out and "\x07" not in out
    import csv
    import io

    labels_out = [row["label"] for row in csv.DictReader(io.StringIO(out)) if row["label"]]
    assert "'=HYPERLINK(\"http://evil\")" in labels_out  # shown as text in a spreadsheet
    assert not any(label.startswith(("=", "+", "-", "@")) for label in labels_out)

"""Hostile inputs, round four (issue #28): what `classify -o` and `--resume` may touch, names
that are not UTF-8, resuming runs that differ, and the CSV's columns. Every test here failed
on the code before round four."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vit_gui.cli import main

CLASSIFY = [sys.executable, "-m", "vit_gui", "classify"]


def classify(capsys, *argv):
    code = main(["classify", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def jsonl(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


# ---- 1. -o photos/*.jpg: the first photo is not an input, and must not become JSON -----------

def test_output_naming_a_photo_that_is_not_an_input_is_refused(capsys, tiny_checkpoint, photo_folder):
    first, second = photo_folder / "chelsea.jpg", photo_folder / "coffee.png"
    before = first.read_bytes()
    code, _, err = classify(capsys, "--model", tiny_checkpoint, "-o", first, second)  # the shell's `-o photos/*`
    assert code == 2 and first.read_bytes() == before
    assert "a JPEG photo" in err and "--force" in err and str(first) in err


@pytest.mark.parametrize("content, words", [(b"my notes\nsecond line\n", "a text file"),
                                            (b"\x00\x01\x02binary", "a binary file")])
def test_output_naming_any_file_that_is_not_results_needs_force(capsys, tiny_checkpoint, photo_folder, tmp_path,
                                                                content, words):
    other = tmp_path / "notes.txt"
    other.write_bytes(content)
    code, _, err = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", other)
    assert code == 2 and other.read_bytes() == content and words in err
    code, _, _ = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", other, "--force")
    assert code == 0 and json.loads(other.read_text())[0]["top"]  # said explicitly: replaced


# ---- 2. -o never destroys the model in use -----------------------------------------------------

def test_output_naming_the_default_model_is_refused(capsys, tiny_hf, private_data_dir, photo_folder):
    from conftest import write_checkpoint

    models = private_data_dir / "models"
    models.mkdir()
    model = write_checkpoint(tiny_hf, models, "mymodel.pth", sidecar={"num_heads": 3, "name": "mine"})
    before = model.read_bytes()
    code, _, err = classify(capsys, photo_folder / "chelsea.jpg", "-o", model)  # no --model: the default one
    assert code == 2 and model.read_bytes() == before and "the model in use" in err


def test_output_naming_the_models_sidecar_or_a_file_of_its_folder_is_refused_even_with_force(
        capsys, tiny_checkpoint, photo_folder, tmp_path):
    sidecar = tiny_checkpoint.with_name(tiny_checkpoint.name + ".json")
    before = sidecar.read_bytes()
    code, _, err = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", sidecar, "--force")
    assert code == 2 and sidecar.read_bytes() == before and "model in use" in err
    folder = tmp_path / "hfvit"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    code, _, err = classify(capsys, photo_folder / "chelsea.jpg", "--model", folder,
                            "-o", folder / "model.safetensors", "--force")
    assert code == 2 and (folder / "model.safetensors").read_bytes() == b"weights" and "model in use" in err


# ---- 3. --resume continues only our results, and cuts nothing but a cut-off last line --------

def test_resume_refuses_files_that_are_not_results(capsys, tiny_checkpoint, photo_folder, tmp_path):
    photo_link = tmp_path / "link.jsonl"
    photo_link.symlink_to(photo_folder / "chelsea.jpg")
    notes = tmp_path / "notes.jsonl"
    notes.write_bytes(b"first paragraph\n\nlast paragraph, no newline")
    long_line = tmp_path / "long.csv"
    long_line.write_bytes(b"x" * 3_000_000)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(bytes(range(256)) * 40)
    photo_bytes = (photo_folder / "chelsea.jpg").read_bytes()
    for target, fmt in ((photo_link, "jsonl"), (notes, "jsonl"), (long_line, "csv"), (garbage, "jsonl")):
        before = target.read_bytes()
        code, _, err = classify(capsys, photo_folder / "coffee.png", "--model", tiny_checkpoint, "--format", fmt,
                                "-o", target, "--resume")
        assert code == 2 and target.read_bytes() == before and "--resume continues a results file" in err, err
    assert (photo_folder / "chelsea.jpg").read_bytes() == photo_bytes


def test_resume_cuts_only_a_cut_off_results_line(capsys, tiny_checkpoint, photo_folder, tmp_path):
    out = tmp_path / "r.jsonl"
    assert classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--format", "jsonl",
                    "-o", out)[0] == 0
    whole = out.read_bytes()
    out.write_bytes(whole + b"PK\x03\x04 not a line of ours, cut")  # what no kill of ours leaves
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "jsonl", "-o", out,
                            "--resume")
    assert code == 2 and out.read_bytes().endswith(b"not a line of ours, cut") and "not a cut-off result" in err


# ---- 4. names that are not UTF-8, and a re-run over a complete file that dies ----------------

@pytest.fixture
def latin1_photo(tmp_path, photo_folder):
    folder = tmp_path / "old-disk"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.jpg")
    os.link(photo_folder / "chelsea.jpg", folder / name)
    return folder / name


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_name_that_is_not_utf8_is_written_losslessly(capsys, tiny_checkpoint, latin1_photo, tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    code, _, err = classify(capsys, latin1_photo, "--model", tiny_checkpoint, "--format", fmt, "-o", out)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")  # strict UTF-8
    record = json.loads(text)[0] if fmt == "json" else json.loads(text.splitlines()[0])
    assert os.fsencode(record["path"]) == os.fsencode(str(latin1_photo)) and record["top"]


def test_a_name_that_is_not_utf8_reaches_stdout(tiny_checkpoint, latin1_photo):
    done = subprocess.run(CLASSIFY + [str(latin1_photo), "--model", str(tiny_checkpoint)], capture_output=True,
                          timeout=300, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr.decode()
    assert os.fsencode(json.loads(done.stdout.decode("utf-8"))[0]["path"]) == os.fsencode(str(latin1_photo))


def _rerun_stopped(tiny_checkpoint, photo_folder, tmp_path, fmt: str, count: int, stop: int, how):
    """A complete results file of `count` photos, then the same command again, stopped by the
    signal `how` after `stop` photos: (out, the complete file's bytes, exit code, stderr)."""
    many = tmp_path / "many"
    many.mkdir()
    for i in range(count):
        os.link(photo_folder / "chelsea.jpg", many / f"p{i:02d}.jpg")
    out = tmp_path / f"r.{fmt}"
    command = CLASSIFY + [str(many), "--model", str(tiny_checkpoint), "--format", fmt, "-o", str(out),
                          "--batch-size", "1"]
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    complete = out.read_bytes()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in process.stderr:
        if f"[{stop}/{count}]" in line:
            process.send_signal(how)
            break
    said = process.stderr.read()
    return out, complete, process.wait(60), said


def test_a_rerun_that_dies_leaves_the_earlier_results_whole(tiny_checkpoint, photo_folder, tmp_path):
    out, complete, _, _ = _rerun_stopped(tiny_checkpoint, photo_folder, tmp_path, "jsonl", 20, 3, signal.SIGKILL)
    assert out.read_bytes() == complete and len(jsonl(out)) == 20


def test_an_interrupted_rerun_keeps_the_earlier_results_and_writes_its_own_beside(tiny_checkpoint, photo_folder,
                                                                                   tmp_path):
    out, complete, code, said = _rerun_stopped(tiny_checkpoint, photo_folder, tmp_path, "csv", 12, 3, signal.SIGINT)
    assert code == 130
    partial = tmp_path / "r.partial.csv"
    assert out.read_bytes() == complete and partial.is_file() and str(partial) in said
    assert 3 <= len(list(csv.DictReader(io.StringIO(partial.read_text())))) < 12 * 5


# ---- 6. one photo however its path is spelled; the CSV holds the real name -------------------

def test_resume_matches_photos_by_where_they_are_not_how_they_were_typed(tiny_checkpoint, photo_folder, tmp_path):
    out = tmp_path / "r.jsonl"
    base = CLASSIFY + ["--model", str(tiny_checkpoint), "--format", "jsonl", "-o", str(out)]
    relative = os.path.relpath(photo_folder, tmp_path)
    assert subprocess.run(base + [relative], cwd=tmp_path, capture_output=True, timeout=300).returncode == 0
    again = subprocess.run(base + [str(photo_folder.resolve()), "--resume"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "3 photos already there, 0 to go" in again.stderr
    assert len(jsonl(out)) == 3


def test_csv_holds_a_narrow_no_break_space_and_resumes_it(capsys, tiny_checkpoint, photo_folder, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    name = "Screenshot 2026-12-06 at 10.00.00\u202fAM.png"
    os.link(photo_folder / "coffee.png", shots / name)
    out = tmp_path / "r.csv"
    assert classify(capsys, shots, "--model", tiny_checkpoint, "--format", "csv", "-o", out)[0] == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert {row["path"] for row in rows} == {str(shots / name)}
    code, _, err = classify(capsys, shots, "--model", tiny_checkpoint, "--format", "csv", "-o", out, "--resume")
    assert code == 0 and "1 photos already there, 0 to go" in err
    assert len(list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))) == len(rows)


# ---- 7. a resume that would mix two runs is refused, naming the difference -------------------

def test_resume_with_other_columns_or_another_model_is_refused(capsys, tiny_checkpoint, tiny_hf, photo_folder,
                                                               tmp_path):
    from conftest import make_hf_vit, write_checkpoint

    out = tmp_path / "r.csv"
    assert classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--format", "csv",
                    "-o", out)[0] == 0
    before = out.read_bytes()
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv", "-o", out,
                            "--resume", "--faithfulness")
    assert code == 2 and "--faithfulness: off then, on now" in err and out.read_bytes() == before
    other = write_checkpoint(make_hf_vit("ViT-Ti/16", depth=2, num_labels=10, seed=5), tmp_path / "other"
                             if (tmp_path / "other").mkdir() is None else tmp_path, sidecar={"num_heads": 3})
    code, _, err = classify(capsys, photo_folder, "--model", other, "--format", "csv", "-o", out, "--resume")
    assert code == 2 and "the model:" in err and out.read_bytes() == before
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv", "-o", out,
                            "--resume", "--top-k", "2")
    assert code == 2 and "--top-k: 5 then, 2 now" in err


def test_an_older_csv_without_a_record_is_checked_by_its_columns(capsys, tiny_checkpoint, photo_folder, tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("path,rank,label,index,prob,error,note\n")  # made before runs were recorded
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv", "-o", out,
                            "--resume", "--faithfulness")
    assert code == 2 and "its columns (7" in err


# ---- 8. results files that would have crashed after the model loaded -------------------------

@pytest.mark.parametrize("fmt, content", [
    ("jsonl", b'{"path": "a.jpg", "top": [], "error": null, "notes": []}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    ("csv", b"path,rank,label,index,prob,error,note\n" + b'"' + b"x" * 140_000 + b'",1,a,0,0.5,,\n'),
    ("csv", b"path,rank,label,index,prob,error,note\n" + bytes(range(256)) * 8 + b"\n"),
])
def test_broken_results_files_are_refused_before_the_model_loads(capsys, tiny_checkpoint, photo_folder, tmp_path,
                                                                  fmt, content):
    out = tmp_path / f"r.{fmt}"
    out.write_bytes(content)
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", fmt, "-o", out,
                            "--resume")
    assert code == 2 and "line 2 of" in err and "loading" not in err and out.read_bytes() == content


# ---- 9. --maps inside the photos' folder, resumed ------------------------------------------

def test_resume_with_maps_in_the_photo_folder_neither_classifies_overlays_nor_doubles_them(
        tiny_checkpoint, photo_folder, tmp_path):
    out = tmp_path / "r.jsonl"
    maps = photo_folder / "maps"
    command = CLASSIFY + [str(photo_folder), "--model", str(tiny_checkpoint), "--format", "jsonl", "-o", str(out),
                          "--maps", str(maps)]
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-1]) + lines[-1][:30])  # a kill cut the last photo's line
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    records = jsonl(out)
    assert len(records) == 3 and not any(".rollout." in r["path"] for r in records)
    assert sorted(p.name for p in maps.iterdir()) == sorted(
        f"{Path(r['path']).stem}.rollout.{ext}" for r in records for ext in ("npy", "png"))


# ---- 14. failed photos are tried again; the file is read a line at a time --------------------

def test_a_photo_that_failed_is_tried_again_on_resume(capsys, tiny_checkpoint, photo_folder, tmp_path):
    broken = photo_folder / "later.jpg"
    good = (photo_folder / "chelsea.jpg").read_bytes()
    broken.write_bytes(good[: len(good) // 3])  # cut short: it fails
    out = tmp_path / "r.jsonl"
    assert classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "jsonl", "-o", out)[0] == 1
    broken.write_bytes(good)  # mended later
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "jsonl", "-o", out,
                            "--resume")
    assert code == 0 and "1 that failed before tried again" in err
    last = {r["path"]: r for r in jsonl(out)}  # a photo's last line is its result (the file is only added to)
    assert len(last) == 4 and all(r["error"] is None for r in last.values())


def _peak_python_memory_of_resume(tiny_checkpoint, photo, out) -> int:
    """Peak memory Python allocated (tracemalloc) while `classify --resume` ran: what reading a
    results file costs, without the noise of torch's own allocations (which vary by hundreds
    of MB between runs in peak RSS)."""
    script = ("import sys, tracemalloc; from vit_gui.cli import main; tracemalloc.start(); "
              "code = main(sys.argv[1:]); print(tracemalloc.get_traced_memory()[1]); sys.exit(0 if code in (0, 1) else code)")
    done = subprocess.run([sys.executable, "-c", script, "classify", str(photo), "--model", str(tiny_checkpoint),
                           "--format", "jsonl", "-o", str(out), "--resume"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_resume_reads_a_big_results_file_a_line_at_a_time(tiny_checkpoint, photo_folder, tmp_path):
    note = "n" * 4000
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    line = lambda i: json.dumps({"path": f"/elsewhere/{i}.jpg", "top": [], "error": None, "notes": [note]})  # noqa: E731
    small.write_text("".join(line(i) + "\n" for i in range(10)))
    with open(big, "w") as stream:
        for i in range(30_000):  # 120 MB
            stream.write(line(i) + "\n")
    grown = (_peak_python_memory_of_resume(tiny_checkpoint, photo_folder / "chelsea.jpg", big)
             - _peak_python_memory_of_resume(tiny_checkpoint, photo_folder / "chelsea.jpg", small))
    assert grown < 40 * 2**20, f"peak memory grew {grown / 2**20:.0f} MB for a 120 MB results file"


# ---- 16. --shard's words -------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [("0/0", "N, the number of shares, must be at least 1"),
                                          ("-1/2", "must be one of 1 … 2")])
def test_shard_values_out_of_range_say_what_is_wrong(capsys, tiny_checkpoint, photo_folder, value, words):
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--shard", value)
    assert code == 2 and words in err and "usage:" not in err


# ---- 18. the CSV with --sanity, and the check's figures on the checked class's row -----------

def test_csv_with_sanity_has_its_columns_and_figures_stand_on_the_checked_row(capsys, tiny_checkpoint, photo_folder):
    code, out, err = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--format", "csv",
                              "--faithfulness", "--sanity", "--top-k", "3")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 and {"randomised_correlation", "depends_on_weights", "shift_correlation",
                               "stable"} <= rows[0].keys()
    assert rows[0]["deletion_auc"] and rows[0]["randomised_correlation"] and rows[0]["shift_correlation"]
    assert all(row["deletion_auc"] == "" and row["randomised_correlation"] == "" for row in rows[1:])


@pytest.mark.parametrize("fmt", ["HEIF", "JPEG"])
def test_a_turned_photo_says_so_in_the_csv_note(capsys, tiny_checkpoint, tmp_path, fmt):
    from PIL import Image

    from vit_gui.images import HEIF_READABLE, _register_heif

    assert HEIF_READABLE and _register_heif()  # pillow-heif ships with the app: HEIC must open
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was held upright: turn 90 degrees to show it
    photo = tmp_path / f"phone.{'heic' if fmt == 'HEIF' else 'jpg'}"
    Image.new("RGB", (96, 64), (200, 40, 40)).save(photo, format=fmt, exif=exif.tobytes())
    code, out, err = classify(capsys, photo, "--model", tiny_checkpoint, "--format", "csv", "--top-k", "1")
    assert code == 0, err
    assert "EXIF orientation 6" in next(csv.DictReader(io.StringIO(out)))["note"]


# ---- 13 (its warning). more names than classes is not "names are missing" -----------------

def test_more_names_than_classes_says_the_extra_names_are_not_used(tmp_path):
    from vit_gui.model.config import parse_labels

    (tmp_path / "names.txt").write_text("".join(f"name {i}\n" for i in range(12)))
    labels, warnings = parse_labels({"labels_file": "names.txt", "_path": str(tmp_path / "m.pth.json")}, 10)
    assert len(labels) == 10 and "2 names past class 9 are not used" in warnings[0]
    assert "without a name" not in warnings[0]


# ---- found by a red-team pass of the round-four change ----------------------------------

def test_a_second_run_on_the_same_results_file_is_refused_while_the_first_runs(tiny_checkpoint, photo_folder,
                                                                             tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps({"path": "/elsewhere/x.jpg", "top": [], "error": None, "notes": []}) + "\n")
    from vit_gui.cli.output import hold_lock

    held = hold_lock(out)  # as a run in progress holds it
    try:
        done = subprocess.run(CLASSIFY + [str(photo_folder), "--model", str(tiny_checkpoint), "--format", "jsonl",
                                          "-o", str(out), "--resume"], capture_output=True, text=True, timeout=300)
    finally:
        os.close(held)
    assert done.returncode == 2 and "being written by another vit-gui run" in done.stderr
    assert len(jsonl(out)) == 1


def test_a_whole_last_line_without_its_newline_is_kept(capsys, tiny_checkpoint, photo_folder, tmp_path):
    out = tmp_path / "r.jsonl"
    assert classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "jsonl", "-o", out)[0] == 0
    out.write_bytes(out.read_bytes()[:-1])
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "jsonl", "-o", out,
                            "--resume")
    assert code == 0 and "3 photos already there, 0 to go" in err and len(jsonl(out)) == 3


def test_the_last_photo_of_a_csv_is_done_again_so_none_is_left_with_some_rows(capsys, tiny_checkpoint, photo_folder,
                                                                              tmp_path):
    out = tmp_path / "r.csv"
    assert classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv", "-o", out)[0] == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-2]))  # a full disk took its last two rows
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv", "-o", out,
                            "--resume")
    assert code == 0 and "2 photos already there, 1 to go" in err
    counts = {}
    for row in csv.DictReader(io.StringIO(out.read_text())):
        counts[row["path"]] = counts.get(row["path"], 0) + 1
    assert sorted(counts.values()) == [5, 5, 5]


def test_resume_from_another_folder_or_through_a_linked_folder_doubles_nothing(tiny_checkpoint, photo_folder,
                                                                               tmp_path):
    out = tmp_path / "r.jsonl"
    base = CLASSIFY + ["--model", str(tiny_checkpoint), "--format", "jsonl", "-o", str(out)]
    assert subprocess.run(base + [os.path.relpath(photo_folder, tmp_path)], cwd=tmp_path, capture_output=True,
                          timeout=300).returncode == 0
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(photo_folder)
    for where, photos in ((tmp_path / "elsewhere", os.path.relpath(photo_folder, tmp_path / "elsewhere")),
                          (tmp_path, "linked")):
        again = subprocess.run(base + [photos, "--resume"], cwd=where, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "3 photos already there, 0 to go" in again.stderr, again.stderr
    assert len(jsonl(out)) == 3


def test_csv_names_with_backslashes_and_newlines_come_back_exactly(capsys, tiny_checkpoint, photo_folder, tmp_path):
    names = tmp_path / "names"
    names.mkdir()
    for name in ("a\\x41.jpg", "aA.jpg", "new\nline.jpg"):
        os.link(photo_folder / "chelsea.jpg", names / name)
    out = tmp_path / "r.csv"
    assert classify(capsys, names / "a\\x41.jpg", "--model", tiny_checkpoint, "--format", "csv", "-o", out)[0] == 0
    code, _, err = classify(capsys, names, "--model", tiny_checkpoint, "--format", "csv", "-o", out, "--resume")
    assert code == 0 and "1 photos already there, 2 to go" in err
    code, _, err = classify(capsys, names, "--model", tiny_checkpoint, "--format", "csv", "-o", out, "--resume")
    assert code == 0 and "3 photos already there, 0 to go" in err


def test_resume_through_a_linked_output_checks_the_record_beside_its_target(capsys, tiny_checkpoint, photo_folder,
                                                                            tmp_path):
    from conftest import make_hf_vit, write_checkpoint

    (tmp_path / "store").mkdir()
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "store" / "real.jsonl")
    assert classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--format", "jsonl",
                    "-o", link)[0] == 0
    (tmp_path / "m2").mkdir()
    other = write_checkpoint(make_hf_vit("ViT-Ti/16", depth=2, seed=7), tmp_path / "m2", sidecar={"num_heads": 3})
    code, _, err = classify(capsys, photo_folder, "--model", other, "--format", "jsonl", "-o", link, "--resume")
    assert code == 2 and "the model:" in err and link.is_symlink()


def test_a_damaged_record_stops_a_resume_instead_of_turning_the_check_off(capsys, tiny_checkpoint, photo_folder,
                                                                          tmp_path):
    out = tmp_path / "r.csv"
    assert classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "--format", "csv",
                    "-o", out)[0] == 0
    Path(str(out) + ".run.json").write_text('{"made_by": "vit-gui 0.1.0", "model_sha')
    code, _, err = classify(capsys, photo_folder, "--model", tiny_checkpoint, "--format", "csv", "-o", out, "--resume")
    assert code == 2 and "cannot be read" in err


def test_a_json_list_of_other_objects_and_a_models_sidecar_as_record_are_not_replaced(capsys, tiny_checkpoint,
                                                                                       photo_folder, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text('[{"path": "/etc/x", "owner": "me"}]')
    code, _, err = classify(capsys, photo_folder / "chelsea.jpg", "--model", tiny_checkpoint, "-o", settings)
    assert code == 2 and settings.read_text() == '[{"path": "/etc/x", "owner": "me"}]'
    model = tmp_path / "w.run"  # its sidecar is w.run.json: where -o w would put its record
    os.link(tiny_checkpoint, model)
    model.with_name("w.run.json").write_text(tiny_checkpoint.with_name("model.pth.json").read_text())
    before = model.with_name("w.run.json").read_bytes()
    code, _, err = classify(capsys, photo_folder / "chelsea.jpg", "--model", model, "-o", tmp_path / "w")
    assert code == 2 and model.with_name("w.run.json").read_bytes() == before

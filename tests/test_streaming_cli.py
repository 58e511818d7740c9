"""Folders of any size: `vit-gui classify` streams JSON Lines and CSV a photo at a time,
`--resume` continues what a killed run left (redoing nothing it wrote, and dropping a line
the kill cut), `--shard I/N` splits a folder into disjoint shares that cover it."""

import csv
import io
import json
import os
import signal
import subprocess
import sys

import pytest

from vit_gui.cli import main


@pytest.fixture
def folder(tmp_path, photo_folder):
    many = tmp_path / "many"
    (many / "sub").mkdir(parents=True)
    for i in range(24):  # hard links: 24 photos without 24 encodings
        source = photo_folder / ("chelsea.jpg" if i % 2 else "coffee.png")
        os.link(source, (many / "sub" if i % 3 == 0 else many) / f"photo-{i:02d}{source.suffix}")
    return many


def lines_of(text):
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_stream_one_object_per_photo(capsys, tiny_checkpoint, folder, tmp_path):
    code = main(["classify", str(folder), "--model", str(tiny_checkpoint), "--format", "jsonl"])
    records = lines_of(capsys.readouterr().out)
    assert code == 0 and len(records) == 24 and all(r["top"] and r["error"] is None for r in records)
    out = tmp_path / "results.jsonl"
    assert main(["classify", str(folder), "--model", str(tiny_checkpoint), "--format", "jsonl", "-o", str(out)]) == 0
    assert [r["path"] for r in lines_of(out.read_text())] == [r["path"] for r in records]


def test_a_killed_run_resumes_without_redoing_what_it_wrote(tiny_checkpoint, folder, tmp_path):
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "vit_gui", "classify", str(folder), "--model", str(tiny_checkpoint),
               "--format", "jsonl", "-o", str(out), "--batch-size", "1"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in process.stderr:
        if "[9/24]" in line:
            process.send_signal(signal.SIGKILL)  # no chance to tidy up
            break
    process.wait(60)
    with open(out, "a") as stream:
        stream.write('{"path": "cut off by the ki')  # what a kill in the middle of a write leaves
    written = [json.loads(line)["path"] for line in out.read_text().splitlines()[:-1]]
    assert 9 <= len(written) < 24
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(written)} photos already there, {24 - len(written)} to go" in resumed.stderr
    assert resumed.stderr.count("] ") == 24 - len(written)  # progress lines: only the photos not written before
    records = lines_of(out.read_text())
    paths = [r["path"] for r in records]
    assert len(paths) == 24 == len(set(paths)) and paths[: len(written)] == written
    assert all(r["top"] for r in records)


def test_csv_streams_and_resumes_too(capsys, tiny_checkpoint, folder, tmp_path):
    out = tmp_path / "results.csv"
    assert main(["classify", str(folder / "sub"), "--model", str(tiny_checkpoint), "--format", "csv", "-o", str(out),
                 "--top-k", "2"]) == 0
    first = out.read_text()
    kept = first.splitlines()[:5]  # the header and two photos' two rows
    out.write_text("\n".join(kept) + "\n" + first.splitlines()[5][:10])  # and a cut-off row
    assert main(["classify", str(folder / "sub"), "--model", str(tiny_checkpoint), "--format", "csv", "-o", str(out),
                 "--top-k", "2", "--resume"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert out.read_text().count("path,rank") == 1 and len(rows) == 2 * 8
    assert sorted(r["path"] for r in rows) == sorted(r["path"] for r in csv.DictReader(io.StringIO(first)))


def test_shards_are_disjoint_cover_the_folder_and_do_not_depend_on_where_it_is(capsys, tiny_checkpoint, folder,
                                                                                tmp_path, monkeypatch):
    shares = []
    for i in range(1, 5):
        assert main(["classify", str(folder), "--model", str(tiny_checkpoint), "--format", "jsonl",
                     "--shard", f"{i}/4"]) == 0
        shares.append({r["path"] for r in lines_of(capsys.readouterr().out)})
    everything = set().union(*shares)
    assert len(everything) == 24 and sum(len(s) for s in shares) == 24  # disjoint, and they cover it
    assert all(shares)  # each machine gets some
    monkeypatch.chdir(folder.parent)  # the same folder named another way: the same share
    assert main(["classify", "many", "--model", str(tiny_checkpoint), "--format", "jsonl", "--shard", "2/4"]) == 0
    relative = {os.path.relpath(os.path.join(folder.parent, r["path"]), folder) for r in lines_of(capsys.readouterr().out)}
    assert relative == {os.path.relpath(p, folder) for p in shares[1]}


@pytest.mark.parametrize("args, message", [
    (["--resume"], "--resume needs -o FILE and --format jsonl or csv"),
    (["--format", "jsonl", "--resume"], "--resume needs -o FILE"),
    (["--shard", "5/4"], "must be one of 1 … 4"),
    (["--shard", "half"], "--shard must be I/N"),
])
def test_streaming_mistakes_exit_2(capsys, tiny_checkpoint, folder, args, message):
    assert main(["classify", str(folder), "--model", str(tiny_checkpoint), *args]) == 2
    assert message in capsys.readouterr().err

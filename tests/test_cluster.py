"""`vit-gui classify --cluster`: on a Ray cluster the test starts itself (a head and two
one-CPU workers on this machine), the records equal a local run's, a worker node killed
midway loses and doubles no photo, --resume finishes only what an interrupted cluster run
left, Ctrl+C at any moment leaves nothing running, and a missing Ray, a wrong address or a
head node without vit-gui is said in words."""

import json
import os
import signal
import socket
import sys
import threading

import pytest

from vit_gui.cli import main
from vit_gui.cli import output as output_module

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")

SMALL = {"object_store_memory": 100 * 2**20}
REAL_ADD = output_module.Streamed.add  # what the tests' recording wraps, never a wrapper of its own


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A head (no CPUs: work goes to the workers) with a Ray Client server, and two workers."""
    port = free_port()
    cluster = ray_cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "ray_client_server_port": port, **SMALL})
    try:
        workers = [cluster.add_node(num_cpus=1, **SMALL) for _ in range(2)]
        cluster.wait_for_nodes()
        yield cluster, workers, f"ray://127.0.0.1:{port}", f"ray:{cluster.address}"
    finally:
        cluster.shutdown()


@pytest.fixture
def folder(tmp_path, photo_folder):
    """12 real photos (hard links) and a file that is not an image."""
    for i in range(9):
        source = photo_folder / ("chelsea.jpg" if i % 2 else "coffee.png")
        os.link(source, photo_folder / f"copy-{i}{source.suffix}")
    (photo_folder / "broken.jpg").write_bytes(b"not a photo at all")
    return photo_folder


def writes_recorded(monkeypatch, ctrl_c_at: int | None = None) -> list:
    """The paths of the records written from now on (a list to clear between runs), and a
    Ctrl+C once `ctrl_c_at` of them are. Each call replaces the last one's recording."""
    added = []

    def add_and_record(self, record):
        REAL_ADD(self, record)
        added.append(record.path)
        if len(added) == ctrl_c_at:
            raise KeyboardInterrupt

    monkeypatch.setattr(output_module.Streamed, "add", add_and_record)
    return added


def ctrl_c():
    """What Python does on a Ctrl+C: runs the SIGINT handler in the main thread (a real signal
    is sent in test_signals.py, in a fresh Python: see why there)."""
    signal.getsignal(signal.SIGINT)(signal.SIGINT, None)


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_path(lines):
    return {r["path"]: r for r in lines}


def classify(folder, model, out, *more):
    return main(["classify", str(folder), "--model", str(model), "--format", "jsonl", "-o", str(out), *more])


def assert_same(cluster_lines, local_lines):
    """The same photos once each, the same classes and probabilities, the same errors."""
    assert sorted(r["path"] for r in cluster_lines) == sorted(r["path"] for r in local_lines)
    local = by_path(local_lines)
    for got in cluster_lines:
        want = local[got["path"]]
        assert (got["error"], got["notes"]) == (want["error"], want["notes"])
        assert [(t["label"], t["index"]) for t in got["top"]] == [(t["label"], t["index"]) for t in want["top"]]
        for a, b in zip(got["top"], want["top"]):
            assert abs(a["prob"] - b["prob"]) <= 1e-5


def test_cluster_records_equal_a_local_runs(ray_cluster, tiny_checkpoint, folder, tmp_path, capsys):
    _, _, client, direct = ray_cluster
    local = tmp_path / "local.jsonl"
    assert classify(folder, tiny_checkpoint, local, "--top-k", "3") == 1  # the broken file fails
    local_lines = records(local)
    assert len(local_lines) == 13 and sum(r["error"] is not None for r in local_lines) == 1
    for address in (client, direct):
        out = tmp_path / f"cluster-{address[:6].replace(':', '').replace('/', '')}.jsonl"
        assert classify(folder, tiny_checkpoint, out, "--top-k", "3", "--batch-size", "2", "--cluster", address) == 1
        assert_same(records(out), local_lines)
        assert "cluster" in capsys.readouterr().err


def test_resume_after_an_interrupted_cluster_run_does_only_the_rest(ray_cluster, tiny_checkpoint, folder, tmp_path,
                                                                      monkeypatch, capsys):
    direct = ray_cluster[3]
    out = tmp_path / "results.jsonl"
    added = writes_recorded(monkeypatch, ctrl_c_at=4)
    assert classify(folder, tiny_checkpoint, out, "--batch-size", "1", "--cluster", direct) == 130
    first = records(out)
    done = {r["path"] for r in first if r["error"] is None}  # a photo that failed is tried again
    assert len(first) == 4
    added = writes_recorded(monkeypatch)
    assert classify(folder, tiny_checkpoint, out, "--batch-size", "1", "--cluster", direct, "--resume") == 1
    assert f"{len(done)} photos already there, {13 - len(done)} to go" in capsys.readouterr().err
    every = [r["path"] for r in records(out)]
    assert len(added) == len(set(added)) == 13 - len(done) and not set(added) & done
    assert len(set(every)) == 13 and len(every) == 4 + len(added)


def test_helpful_errors_without_ray_or_cluster(tiny_checkpoint, folder, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results.jsonl"
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "ray", None)  # `import ray` fails as where it is not installed
        assert classify(folder, tiny_checkpoint, out, "--cluster", "ray") == 2
    assert "pip install 'vit-gui[cluster]'" in capsys.readouterr().err
    assert classify(folder, tiny_checkpoint, out, "--cluster", f"ray://127.0.0.1:{free_port()}") == 2
    assert "nothing answers at 127.0.0.1" in capsys.readouterr().err
    assert classify(folder, tiny_checkpoint, out, "--cluster", "spark://x:1") == 2
    assert "--cluster must be ray" in capsys.readouterr().err
    assert classify(folder, tiny_checkpoint, out, "--cluster", "ray", "--maps", str(tmp_path / "maps")) == 2
    assert "--maps cannot be used with --cluster" in capsys.readouterr().err
    assert not out.exists()


def test_a_worker_node_killed_midway_loses_and_doubles_no_photo(ray_cluster, tiny_checkpoint, folder, tmp_path,
                                                                monkeypatch):
    cluster, workers, _, direct = ray_cluster
    local = tmp_path / "local.jsonl"
    classify(folder, tiny_checkpoint, local)
    out = tmp_path / "results.jsonl"
    real_add, killed = output_module.Streamed.add, []

    def add_then_kill_a_worker(self, record):
        real_add(self, record)
        if not killed:  # the first result is back: a worker node and its actor go
            cluster.remove_node(workers[0])
            killed.append(workers[0])

    monkeypatch.setattr(output_module.Streamed, "add", add_then_kill_a_worker)
    try:
        assert classify(folder, tiny_checkpoint, out, "--batch-size", "1", "--cluster", direct) == 1
        assert killed and workers[0] not in cluster.list_all_nodes()
        lines = records(out)
        assert len(lines) == len({r["path"] for r in lines}) == 13
        assert_same(lines, records(local))
    finally:
        if killed:
            workers[0] = cluster.add_node(num_cpus=1, **SMALL)  # for any test after this one


def test_an_interrupted_cluster_run_leaves_nothing_running_here(ray_cluster, tiny_checkpoint, folder, tmp_path,
                                                                monkeypatch):
    """Ray Data's threads left in this process by an interrupted run could touch Ray after
    the command disconnected, which Ray answers by ending the whole process (exit code 1; the
    likely cause of CI's death in this file). Every thread the command starts must be gone
    when it returns."""
    direct = ray_cluster[3]
    added = writes_recorded(monkeypatch, ctrl_c_at=2)
    for run in range(2):
        before = set(threading.enumerate())
        added.clear()
        out = tmp_path / f"results-{run}.jsonl"
        assert classify(folder, tiny_checkpoint, out, "--batch-size", "1", "--cluster", direct) == 130
        assert len(records(out)) == 2
        left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
        assert not left, f"threads still running after the command: {left}"


def test_ctrl_c_while_connecting_still_disconnects(ray_cluster, tiny_checkpoint, folder, tmp_path, monkeypatch,
                                                  capsys):
    """Ctrl+C that lands as the connection is made: the command stops (exit 130, nothing
    written) and leaves the cluster; it used to stay connected (with `ray`, the Ray it
    started kept running after the command)."""
    import ray

    real_init = ray.init

    def init_then_ctrl_c(*args, **kwargs):
        made = real_init(*args, **kwargs)
        ctrl_c()
        return made

    monkeypatch.setattr(ray, "init", init_then_ctrl_c)
    out = tmp_path / "results.jsonl"
    assert classify(folder, tiny_checkpoint, out, "--cluster", ray_cluster[3]) == 130
    assert not out.exists() and not ray.is_initialized()
    assert "interrupted while the model was loading" in capsys.readouterr().err


def test_ctrl_c_while_leaving_the_cluster_keeps_the_finished_run(ray_cluster, tiny_checkpoint, folder, tmp_path,
                                                                 monkeypatch, capsys):
    """Ctrl+C that lands as a finished run disconnects: no traceback, the exit code of the
    run (1: the broken file), every line written, and disconnected all the same."""
    import ray

    real_shutdown = ray.shutdown
    pressed = []

    def ctrl_c_then_shutdown(*args, **kwargs):
        if not pressed and ray.is_initialized():
            pressed.append(True)
            ctrl_c()
        return real_shutdown(*args, **kwargs)

    monkeypatch.setattr(ray, "shutdown", ctrl_c_then_shutdown)
    out = tmp_path / "results.jsonl"
    try:
        code = classify(folder, tiny_checkpoint, out, "--cluster", ray_cluster[3])
    except KeyboardInterrupt:
        code = "KeyboardInterrupt escaped the command"
    assert pressed and code == 1
    assert len(records(out)) == 13 and not ray.is_initialized()
    assert "Ctrl+C: leaving the cluster first" in capsys.readouterr().err


def test_a_head_node_without_vit_gui_is_said_before_anything_is_written(ray_cluster, tiny_checkpoint, folder,
                                                                        tmp_path, monkeypatch, capsys):
    """The dataset runs in an actor on the head node, so the head must import vit-gui; one
    that cannot is said in words (exit 2, -o untouched), not found out run by run."""
    from ray import cloudpickle

    from vit_gui.cli import cluster as cluster_module

    def import_fails():  # defined here, so Ray sends it by value: the head runs this one
        raise ModuleNotFoundError("No module named 'vit_gui'")

    sent = cloudpickle.dumps(cluster_module._head_check)  # the real one goes by name: the head imports vit_gui
    assert b"vit_gui.cli.cluster" in sent and b"_head_check" in sent and len(sent) < 200
    monkeypatch.setattr(cluster_module, "_head_check", import_fails)
    out = tmp_path / "results.jsonl"
    assert classify(folder, tiny_checkpoint, out, "--cluster", ray_cluster[3]) == 2
    said = [line for line in capsys.readouterr().err.splitlines() if "head node" in line]
    assert said == ["vit-gui: error: the cluster's head node cannot run vit-gui (ModuleNotFoundError: No module "
                    "named 'vit_gui'); install the same vit-gui there as on every node: pip install "
                    "'vit-gui[cluster]'"]  # the remote traceback's last line, not all of it
    assert not out.exists()

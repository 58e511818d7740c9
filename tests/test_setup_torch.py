"""scripts/setup.sh installs the CPU build of torch, never the CUDA build and its nvidia packages.

Each check asks pip itself, isolated from this machine's pip configuration (`--isolated`),
what the setup's torch arguments would install (`--dry-run --report`). These tests need the
package registry, as CI has it.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def setup_torch_args(**env) -> list[str]:
    import os

    done = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), "--print-torch-args"],
                          capture_output=True, text=True, check=True, env={**os.environ, **env})
    return done.stdout.split()


def dry_run(args: list[str], tmp_path: Path):
    """(exit code, installed (name, version) pairs, stderr) of an isolated pip dry run."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--quiet",
         "--disable-pip-version-check", "--retries", "1", "--report", str(report), *args],
        capture_output=True, text=True, timeout=600)
    installs = []
    if done.returncode == 0:
        installs = [(i["metadata"]["name"].lower(), i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]
    return done.returncode, installs, done.stderr


def local_wheel_folders() -> list[str]:
    """Folders of wheels this machine's pip configuration adds (its stand-in for PyTorch's CPU index)."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    folders = []
    for line in done.stdout.splitlines():
        if "find-links" in line:
            folders += line.split("=", 1)[1].strip("'\" ").split()
    return [f for f in folders if list(Path(f).glob("torch-*+cpu-*.whl"))]


def test_setup_asks_for_the_cpu_build_from_pytorchs_cpu_index():
    args = setup_torch_args(VIT_GUI_DEVICE="cpu")
    assert args[0].startswith("torch==") and args[0].endswith("+cpu")
    assert args[1:] == ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]
    assert setup_torch_args(VIT_GUI_DEVICE="cuda") == [args[0].removesuffix("+cpu")]


def test_isolated_dry_run_of_the_setup_never_resolves_cuda_packages(tmp_path):
    """Against the public index (plus the CPU index, where reachable), the `+cpu` spec either
    resolves to the CPU build or to nothing: PyPI has no `+cpu` build, so no CUDA build can match."""
    code, installs, stderr = dry_run(setup_torch_args(VIT_GUI_DEVICE="cpu"), tmp_path)
    if code == 0:
        assert dict(installs)["torch"].endswith("+cpu")
    else:
        assert re.search(r"(No matching distribution found for|Cannot install) torch==\S+\+cpu", stderr), stderr[-800:]
    assert not [name for name, _ in installs if name.startswith("nvidia") or name == "triton"]


def test_with_the_cpu_wheels_at_hand_the_setup_resolves_the_cpu_build_alone(tmp_path):
    folders = local_wheel_folders()
    if not folders:
        pytest.skip("this machine has no local folder of CPU torch wheels standing in for PyTorch's CPU index")
    args = setup_torch_args(VIT_GUI_DEVICE="cpu")
    code, installs, stderr = dry_run([*args, *(f"--find-links={f}" for f in folders)], tmp_path)
    assert code == 0, stderr[-800:]
    names = dict(installs)
    assert names["torch"].endswith("+cpu")
    assert not [name for name in names if name.startswith("nvidia") or name in ("triton", "cuda-bindings")]


def test_the_plain_spec_the_setup_avoids_would_pull_cuda(tmp_path):
    """The control: without `+cpu`, the same dry run resolves the CUDA build and nvidia packages."""
    args = setup_torch_args(VIT_GUI_DEVICE="cuda")
    code, installs, stderr = dry_run(args, tmp_path)
    assert code == 0, stderr[-800:]
    assert any(name.startswith("nvidia") for name, _ in installs)

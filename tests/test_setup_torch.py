"""scripts/setup.sh installs the CPU build of torch, never the CUDA build and its nvidia packages.

Each check asks pip itself, isolated from this machine's pip configuration (`--isolated`),
what the setup's torch arguments would install (`--dry-run --report`). These tests need the
package registry, as CI has it.

The control (the plain spec pulls CUDA) reads the dependencies the CUDA build declares for this
machine from its wheel's METADATA, fetched by HTTP range requests. A pip dry run of the plain
spec downloads every wheel it resolves, even with `--use-feature=fast-deps` (pip 23.2 and 24.3
alike, this registry serving no PEP 658 metadata): 2.6 GB of CUDA wheels, and CI's disk ran out.
"""

import io
import json
import os
import re
import subprocess
import sys
import urllib.request
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[1]


def setup_torch_args(**env) -> list[str]:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), "--print-torch-args"],
                          capture_output=True, text=True, check=True, env={**os.environ, **env})
    return done.stdout.split()


def dry_run(args: list[str], tmp_path: Path):
    """(exit code, installed (name, version) pairs, stderr) of an isolated pip dry run."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--quiet",
         "--disable-pip-version-check", "--retries", "1", "--report", str(report), *args],
        capture_output=True, text=True, timeout=600, env={**os.environ, "TMPDIR": str(tmp_path)})
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


class RangedFile(io.RawIOBase):
    """A file on a server, read by HTTP range requests (so zipfile reads a wheel's METADATA
    without downloading the wheel)."""

    def __init__(self, url: str, size: int):
        self.url, self.size, self.position, self.fetched = url, size, 0, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.position

    def seek(self, offset, whence=io.SEEK_SET):
        position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self.position = position
        return position

    def readinto(self, buffer):
        end = min(self.position + len(buffer), self.size)
        if end <= self.position:
            return 0
        asked = urllib.request.Request(self.url, headers={"Range": f"bytes={self.position}-{end - 1}"})
        with urllib.request.urlopen(asked, timeout=60) as answer:
            assert answer.status == 206, f"{self.url} answered a range request with {answer.status}"
            data = answer.read(end - self.position + 1)
        assert len(data) == end - self.position, f"{self.url} sent {len(data)} bytes for a range of {end - self.position}"
        buffer[:len(data)] = data
        self.position += len(data)
        self.fetched += len(data)
        return len(data)


def declared_dependencies_here(spec: str) -> tuple[str, set[str], int]:
    """(wheel pip would pick on this machine from the public index, the names its METADATA requires
    here, bytes fetched): the wheel is the one whose tags come first in this interpreter's order."""
    name, version = spec.split("==")
    listing = urllib.request.Request(f"https://pypi.org/simple/{name}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(listing, timeout=60) as answer:
        files = json.load(answer)["files"]
    wheels = {}
    for file in files:
        if file["filename"].endswith(".whl") and not file.get("yanked"):
            _, wheel_version, _, tags = parse_wheel_filename(file["filename"])
            if str(wheel_version) == version:
                wheels.update({tag: file for tag in tags})
    chosen = next((wheels[tag] for tag in sys_tags() if tag in wheels), None)
    assert chosen is not None, f"no wheel of {spec} on the public index fits this machine"
    size = chosen.get("size")  # the JSON index's (PEP 700), else the server's
    if size is None:
        with urllib.request.urlopen(urllib.request.Request(chosen["url"], method="HEAD"), timeout=60) as head:
            size = head.headers["Content-Length"]
    remote = RangedFile(chosen["url"], int(size))
    with zipfile.ZipFile(io.BufferedReader(remote, buffer_size=1 << 16)) as wheel:
        metadata_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = wheel.read(metadata_name).decode()
    required = set()
    for line in HeaderParser().parsestr(metadata).get_all("Requires-Dist", []):  # the headers, not the description
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            required.add(canonicalize_name(requirement.name))
    return chosen["filename"], required, remote.fetched


def test_the_plain_spec_the_setup_avoids_would_pull_cuda():
    """The control: without `+cpu`, the wheel pip would pick here requires nvidia packages."""
    args = setup_torch_args(VIT_GUI_DEVICE="cuda")
    assert len(args) == 1 and not args[0].endswith("+cpu")
    wheel, required, fetched = declared_dependencies_here(args[0])
    assert wheel.startswith("torch-") and "+cpu" not in wheel
    assert [name for name in required if name.startswith("nvidia")], (wheel, sorted(required))
    assert fetched < 16 * 2**20, f"read {fetched / 2**20:.0f} MB of {wheel} for its metadata"

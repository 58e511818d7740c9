"""Hostile inputs, round four (issue #28), models: tensors whose strides repeat a few stored
numbers (5), class names split only where the seed project splits them (13), and a damaged
legacy .pth told in plain words (16, part). Each test failed on the code before its fix."""

import io
import json
import pickletools
import struct
import subprocess
import sys

import pytest
import torch
from conftest import make_hf_vit

from vit_gui.errors import CheckpointError
from vit_gui.model.checkpoints import build_model, infer_architecture, load_model
from vit_gui.model.labels_file import read_labels_file
from vit_gui.model.layouts import find_layout

SIDECAR = {"num_heads": 3}


@pytest.fixture(scope="module")
def small_state():
    """A one-block ViT-Ti (32 px, 3 classes) in timm's names: about 0.6 M numbers."""
    model = make_hf_vit("ViT-Ti/16", depth=1, image_size=32, num_labels=3, seed=4)
    hf_state = {k: v.clone() for k, v in model.state_dict().items()}
    return find_layout(hf_state).convert(hf_state)


def save(folder, state, name="model.pth", legacy=False):
    path = folder / name
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    (folder / f"{name}.json").write_text(json.dumps(SIDECAR))
    return path


# ---- 5. memory follows the file, not the strides its pickle gives -----------------------------

PEAK = """
import json, resource, sys
from vit_gui.model.checkpoints import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_model(sys.argv[1])
    outcome = "loaded"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({"grown": grown, "outcome": outcome}))
"""


def test_an_expanded_position_embedding_is_refused_before_it_is_copied(tmp_path, small_state):
    """pos_embed = torch.zeros(1).expand(...) claiming 1 + 800² tokens: one stored number, 491 MB
    once copied (the issue's 1 + 1500² took 1.93 GB). Peak memory of a fresh process loading it."""
    state = dict(small_state)
    state["pos_embed"] = torch.zeros(1).expand(1, 1 + 800 * 800, 192)
    path = save(tmp_path, state)
    run = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["grown"] < 4 * path.stat().st_size + 32 * 2**20, result  # the copy would be 491 MB
    assert result["outcome"].startswith("CheckpointError") and "repeats stored numbers" in result["outcome"]
    assert "a zero stride" in result["outcome"] and "'pos_embed'" in result["outcome"]


def expand_everything(state):
    """The issue's 20 KB file: every tensor one stored zero, expanded to its shape."""
    return {k: torch.zeros(1, dtype=v.dtype).expand(v.shape) for k, v in state.items()}


def overlap_pos_embed(state):
    """pos_embed's 5 tokens read overlapping windows of one stored row (strides 1, 1)."""
    return {**state, "pos_embed": torch.randn(5 + 192).as_strided((1, 5, 192), (0, 1, 1))}


def overlap_by_one(state):
    """The red-team's case: qkv's rows start 191 numbers apart but are 192 long."""
    return {**state, "blocks.0.attn.qkv.weight": torch.randn(576 * 191 + 1).as_strided((576, 192), (191, 1))}


def overlap_two_names(state):
    """Two names whose windows of one stored block overlap: together they read more numbers
    than it stores (each would be copied in full)."""
    block = torch.randn(576 * 192)
    return {**state, "blocks.0.attn.qkv.weight": block.view(576, 192),
            "blocks.0.attn.proj.weight": block[100 * 192:292 * 192].view(192, 192)}


def three_names(state):
    """One tensor under three names: more than tied weights (two names), refused."""
    weight = state["norm.weight"].clone()
    return {**state, "norm.weight": weight, "blocks.0.norm1.weight": weight, "blocks.0.norm2.weight": weight}


@pytest.mark.parametrize("make, message", [
    (expand_everything, r"repeats stored numbers \(.* a zero stride\)"),
    (overlap_pos_embed, r"'pos_embed' reads stored numbers more than once: along its dimension 2 it steps 1 "
                        r"number, within the 5 numbers its other dimensions span"),
    (overlap_by_one, r"'blocks.0.attn.qkv.weight' reads stored numbers more than once: along its dimension 0 "
                     r"it steps 191 numbers, within the 192 numbers its other dimensions span"),
    (overlap_two_names, r"'blocks.0.attn.proj.weight' and 'blocks.0.attn.qkv.weight' read 147,456 numbers "
                        r"from one stored block of 110,592"),
    (three_names, r"'blocks.0.norm1.weight', 'blocks.0.norm2.weight' and 'norm.weight' are one tensor under 3 "
                  r"names"),
], ids=["zero strides", "overlapping strides", "overlap by one", "overlapping names", "three names"])
def test_tensors_that_repeat_stored_numbers_are_refused_by_name(tmp_path, small_state, make, message):
    path = save(tmp_path, make(small_state))
    with pytest.raises(CheckpointError, match=message) as caught:
        load_model(path)
    assert path.name in str(caught.value)


def test_the_size_check_counts_each_storage_once(small_state):
    """A state made in memory (no file to read): an expanded pos_embed holds one number, not
    the 173,000 its shape claims, so the model it describes is more than the state holds."""
    state = {k: v.clone() for k, v in small_state.items()}
    state["pos_embed"] = torch.zeros(1).expand(1, 1 + 30 * 30, 192)
    arch = infer_architecture(state, SIDECAR)
    with pytest.raises(CheckpointError, match="describes a model of .* numbers but holds"):
        build_model(state, arch)


def test_an_honest_checkpoint_with_views_still_loads(tmp_path, small_state):
    """Transposed and sliced tensors (strides torch itself writes) are not refused."""
    state = {k: v.clone() for k, v in small_state.items()}
    state["head.weight"] = state["head.weight"].t().contiguous().t()  # column-major storage
    wide = torch.randn(2, *state["pos_embed"].shape[1:])
    wide[1] = state["pos_embed"][0]
    state["pos_embed"] = wide[1:]  # a slice at an offset into a larger storage
    loaded = load_model(save(tmp_path, state))
    torch.testing.assert_close(loaded.model.pos_embed.detach(), small_state["pos_embed"])
    assert loaded.info.architecture.num_classes == 3


# ---- 5 (red-team). storage shared the way honest code shares it loads ----------------------

QKV = [f"vit.layers.0.attention.{x}_proj.weight" for x in "qkv"]


@pytest.fixture(scope="module")
def hf_state():
    """The same one-block ViT-Ti in Hugging Face's names (transformers 5: q_proj, k_proj, v_proj)."""
    model = make_hf_vit("ViT-Ti/16", depth=1, image_size=32, num_labels=3, seed=4)
    return {k: v.clone() for k, v in model.state_dict().items()}


def fused_columns(state):
    """q, k, v as column chunks of one fused (192, 576) tensor: bytes disjoint, spans interleaved."""
    fused = torch.cat([state[name] for name in QKV], dim=1)
    return {**state, **{name: fused[:, i * 192:(i + 1) * 192] for i, name in enumerate(QKV)}}


def interleaved(state):
    """q and k as the even and odd numbers of one (192, 192, 2) tensor."""
    inter = torch.stack([state[QKV[0]], state[QKV[1]]], dim=-1)
    return {**state, QKV[0]: inter[..., 0], QKV[1]: inter[..., 1]}


def unused_alias(state):
    """An extra name over a used tensor that the layout sets aside (a pooler, unused here)."""
    return {**state, "vit.pooler.dense.weight": state[QKV[0]]}


def tied(state):
    """Two names the model reads over one tensor (tied weights), a big one and a small one."""
    return {**state, "vit.layers.0.attention.o_proj.weight": state[QKV[2]],
            "vit.layernorm.weight": state["vit.layers.0.layernorm_before.weight"]}


def same_values(state, layout):
    """The state `layout` makes, with every tensor its own contiguous copy."""
    return {k: v.clone().contiguous() for k, v in layout(state).items()}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("layout", [fused_columns, interleaved, unused_alias, tied])
def test_storage_shared_without_repeating_numbers_loads_as_the_contiguous_model(tmp_path, hf_state, layout, legacy):
    """Each layout gives the same outputs as the same numbers stored one tensor each."""
    shared = save(tmp_path, layout(hf_state), "shared.pth", legacy=legacy)
    plain = save(tmp_path, same_values(hf_state, layout), "plain.pth")
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = load_model(shared).model(pixels), load_model(plain).model(pixels)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_a_half_precision_tensor_under_two_names_is_widened_once(tmp_path, small_state):
    """Tied float16 weights: one float32 copy that both names use, not a copy per name."""
    state = {k: v.half() for k, v in small_state.items()}
    state["norm.weight"] = state["blocks.0.norm1.weight"]
    model = load_model(save(tmp_path, state)).model
    assert model.norm.weight.data_ptr() == model.blocks[0].norm1.weight.data_ptr()
    assert model.norm.weight.dtype == torch.float32


def test_names_sharing_storage_cannot_make_the_loader_copy_more_than_the_file_holds(tmp_path, hf_state):
    """The bomb the sharing rule must still stop: a Hugging Face file whose 40 blocks' query, key
    and value are all one stored tensor (each block's three fused into a fresh copy on loading)."""
    state = {k: v for k, v in hf_state.items() if not k.startswith("vit.layers.")}
    block = {k.removeprefix("vit.layers.0."): v for k, v in hf_state.items() if k.startswith("vit.layers.0.")}
    for i in range(40):
        state.update({f"vit.layers.{i}.{k}": v for k, v in block.items()})
        state.update({f"vit.layers.{i}.attention.{x}_proj.weight": block["attention.q_proj.weight"] for x in "qkv"})
    with pytest.raises(CheckpointError, match="one tensor under 120 names"):
        load_model(save(tmp_path, state))


# ---- 13. class names split at line ends only, as the seed project splits them ------------------

INNER = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("separator", INNER, ids=[f"U+{ord(c):04X}" for c in INNER])
def test_a_class_name_is_not_split_inside_a_line(tmp_path, separator):
    path = tmp_path / "cls_classes.txt"
    path.write_text(f"cat\nlynx{separator}wild\ndog\n", encoding="utf-8", newline="")
    assert read_labels_file(path) == ["cat", f"lynx{separator}wild", "dog"]


def test_class_names_end_at_any_of_the_seeds_line_ends(tmp_path):
    """The seed's text-mode readlines() ends lines at \\n, \\r\\n and \\r."""
    path = tmp_path / "cls_classes.txt"
    path.write_bytes(b"cat\r\ndog\rcup\n\nrocket\r\n\r\n")
    assert read_labels_file(path) == ["cat", "dog", "cup", "", "rocket"]


def test_the_seed_project_labels_class_2_as_its_own_file_says(tmp_path, small_state):
    """`cat / lynx<FF>wild / dog`: class 2 is "dog", not "wild", and the count matches."""
    root = tmp_path / "project"
    (root / "logs").mkdir(parents=True)
    (root / "model_data").mkdir()
    torch.save(small_state, root / "logs" / "best_epoch_weights.pth")
    (root / "model_data" / "cls_classes.txt").write_bytes(b"cat\nlynx\x0cwild\ndog\n")
    info = load_model(root / "logs" / "best_epoch_weights.pth").info
    assert info.labels == ("cat", "lynx\x0cwild", "dog")
    assert not [w for w in info.warnings if "names" in w]


# ---- 16 (part). a damaged legacy .pth is told in plain words ----------------------------------

def legacy_bytes(state) -> tuple[bytes, int]:
    """A legacy (non-zip) .pth and where its first block of numbers' length is written: after
    five pickles (magic number, protocol, system facts, the tensors, the storage keys)."""
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=False)
    buffer.seek(0)
    for _ in range(5):
        for _ in pickletools.genops(buffer):
            pass
    return buffer.getvalue(), buffer.tell()


@pytest.mark.parametrize("change", [+1, -1, 102_147_483_647])
def test_a_legacy_file_whose_lengths_disagree_says_so_plainly(tmp_path, small_state, change):
    data, at = legacy_bytes(small_state)
    stored = struct.unpack("<q", data[at:at + 8])[0]
    path = tmp_path / "legacy.pth"
    path.write_bytes(data[:at] + struct.pack("<q", stored + change) + data[at + 8:])
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    text = str(caught.value)
    assert "legacy.pth is not a readable checkpoint: it is damaged (the length written" in text
    assert "%ld" not in text and "storage has wrong byte size" not in text  # torch's own words: "expected %ld got %ld2824"


@pytest.mark.parametrize("keep", [21, 200, -1], ids=["before the system facts", "inside the tensors' pickle",
                                                   "inside the numbers"])
def test_a_legacy_file_cut_short_says_so_plainly(tmp_path, small_state, keep):
    """torch said "EOFError", "unpack requires a buffer of 4 bytes" or "unexpected EOF"."""
    data, _ = legacy_bytes(small_state)
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:keep])
    with pytest.raises(CheckpointError) as caught:
        load_model(path)
    assert str(caught.value) == ("cut.pth is not a readable checkpoint: it is damaged (it ends part-way through, "
                                 "cut short); save or download it again")


# ---- red-team: blank trailing lines, 8-bit floats --------------------------------------------

@pytest.mark.parametrize("tail", ["\n\f", "\n  \n", "\n\t\n\n", "\n\u2028"], ids=["form feed", "spaces", "tab",
                                                                                 "U+2028"])
def test_trailing_lines_of_only_whitespace_are_not_names(tmp_path, tail):
    path = tmp_path / "cls_classes.txt"
    path.write_text("cat\n \ndog" + tail, encoding="utf-8", newline="")
    assert read_labels_file(path) == ["cat", " ", "dog"]


def test_a_float8_checkpoint_loads_widened_exactly(tmp_path, small_state):
    """float8_e4m3fn weights (torch's max/min are not implemented for them) load as float32,
    each number exactly the one stored; a NaN among them is still refused by name."""
    state = {k: v.to(torch.float8_e4m3fn) for k, v in small_state.items()}
    loaded = load_model(save(tmp_path, state))
    torch.testing.assert_close(loaded.model.pos_embed.detach(), state["pos_embed"].float(), rtol=0, atol=0)
    state["head.bias"] = torch.tensor([0.0, float("nan"), 1.0]).to(torch.float8_e4m3fn)
    with pytest.raises(CheckpointError, match="'head.bias' holds values that are not numbers"):
        load_model(save(tmp_path, state))

"""Property tests: image and checkpoint loading on random and mutated bytes.

Whatever the bytes, loading ends in a result or in the project's own error type, within a
bounded time per input. The number of examples per test is VIT_GUI_FUZZ_EXAMPLES
(default 150; the figures in docs/RELIABILITY.md come from a run with 3000).
"""

import io
import json
import os
import struct
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import save

from vit_gui.errors import VitGuiError
from vit_gui.images import load_image
from vit_gui.model.checkpoints import load_model, read_state_dict
from vit_gui.model.vit import VisionTransformer

EXAMPLES = int(os.environ.get("VIT_GUI_FUZZ_EXAMPLES", "150"))
SECONDS_PER_INPUT = 5.0
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def image_seeds() -> dict[str, bytes]:
    base = Image.linear_gradient("L").resize((40, 30)).convert("RGB")
    seeds = {}
    for fmt, kwargs in {"PNG": {}, "JPEG": {"quality": 80}, "GIF": {}, "BMP": {}, "TIFF": {}, "WEBP": {}}.items():
        buffer = io.BytesIO()
        base.save(buffer, fmt, **kwargs)
        seeds[fmt] = buffer.getvalue()
    return seeds


def checkpoint_seeds() -> dict[str, bytes]:
    torch.manual_seed(0)
    state = VisionTransformer(grid=(2, 2), patch_size=8, embed_dim=128, depth=1, num_heads=2, num_classes=3).state_dict()
    seeds = {"safetensors": save({k: v.contiguous() for k, v in state.items()})}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    seeds["pth-zip"] = buffer.getvalue()
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=False)
    seeds["pth-legacy"] = buffer.getvalue()
    return seeds


IMAGE_SEEDS, CHECKPOINT_SEEDS = image_seeds(), checkpoint_seeds()


@st.composite
def mutated(draw, seeds):
    """A seed file with random byte flips, insertions, deletions and truncation."""
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(1, 8))):
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice-header"]))
        if action == "flip":
            data[where] = draw(st.integers(0, 255))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 64))]
        elif action == "truncate":
            del data[where:]
        else:  # overwrite a stretch near the start, where headers and lengths live
            start = draw(st.integers(0, min(64, len(data))))
            data[start : start + 8] = draw(st.binary(min_size=8, max_size=8))
        if not data:
            break
    return bytes(data)


def check_bounded(call, path):
    """The call returns or raises our own error, quickly; anything else fails the test."""
    start = time.perf_counter()
    try:
        call(path)
    except VitGuiError:
        pass
    assert time.perf_counter() - start < SECONDS_PER_INPUT


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_as_an_image(tmp_path, data):
    path = tmp_path / "random.jpg"
    path.write_bytes(data)
    check_bounded(load_image, path)


@FUZZ
@given(data=mutated(IMAGE_SEEDS))
def test_mutated_images(tmp_path, data):
    path = tmp_path / "mutated.img"
    path.write_bytes(data)
    check_bounded(load_image, path)


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_as_a_checkpoint(tmp_path, data):
    path = tmp_path / "random.pth"
    path.write_bytes(data)
    check_bounded(load_model, path)


@FUZZ
@given(data=mutated(CHECKPOINT_SEEDS))
def test_mutated_checkpoints(tmp_path, data):
    path = tmp_path / "mutated.ckpt"
    path.write_bytes(data)
    check_bounded(load_model, path)


@FUZZ
@given(data=mutated({"safetensors": CHECKPOINT_SEEDS["safetensors"]}))
def test_mutated_safetensors_headers(tmp_path, data):
    path = tmp_path / "mutated.safetensors"
    path.write_bytes(data)
    check_bounded(read_state_dict, path)


DTYPES = ["F32", "F16", "BF16", "F64", "I8", "U8", "I64", "BOOL", "C64", "F8_E4M3", "nonsense"]
DIMENSIONS = st.one_of(st.integers(-2, 70_000), st.sampled_from([0, 2**31, 2**63, 2**64, float("inf"), 1.5, True, "3"]))


@st.composite
def crafted_safetensors(draw) -> bytes:
    """A well-formed safetensors header that lies: aliased and overlapping entries, offsets
    past the end, impossible shapes and dtypes, over a small body."""
    body = draw(st.integers(0, 2048))
    header = {}
    consistent = draw(st.booleans())  # every entry well-formed: only sharing bytes can give it away
    for i in range(draw(st.integers(1, 40))):
        if consistent or draw(st.booleans()):  # a stretch of the body that others may share (the memory bomb)
            start = 4 * draw(st.integers(0, body // 4))
            end = 4 * draw(st.integers(start // 4, body // 4))
            entry = {"dtype": "F32", "shape": [(end - start) // 4 or 1], "data_offsets": [start, end]}
        else:
            entry = {"dtype": draw(st.sampled_from(DTYPES)), "shape": draw(st.lists(DIMENSIONS, max_size=4)),
                     "data_offsets": [draw(st.integers(0, body + 16)), draw(st.integers(0, body + 16))]}
        header[f"t{i}"] = entry
    text = json.dumps(header).encode()  # json.dumps writes Infinity, as a hostile file may
    return struct.pack("<Q", len(text)) + text + bytes(body)


@FUZZ
@given(data=crafted_safetensors())
def test_lying_safetensors_headers_never_allocate_more_than_the_file(tmp_path, data):
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(data)
    start = time.perf_counter()
    try:
        tensors = read_state_dict(path)
    except VitGuiError:
        return
    finally:
        assert time.perf_counter() - start < SECONDS_PER_INPUT
    (header_len,) = struct.unpack("<Q", data[:8])
    assert sum(t.numel() * t.element_size() for t in tensors.values()) <= len(data) - 8 - header_len


@pytest.mark.parametrize("name", sorted(IMAGE_SEEDS))
def test_the_seeds_themselves_load(tmp_path, name):
    path = tmp_path / f"seed.{name.lower()}"
    path.write_bytes(IMAGE_SEEDS[name])
    assert load_image(path).image.size == (40, 30)


@pytest.mark.parametrize("name", sorted(CHECKPOINT_SEEDS))
def test_the_checkpoint_seeds_themselves_load(tmp_path, name):
    path = tmp_path / "seed.ckpt"
    path.write_bytes(CHECKPOINT_SEEDS[name])
    assert load_model(path).info.architecture.num_classes == 3

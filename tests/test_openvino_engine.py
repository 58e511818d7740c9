"""The OpenVINO engine behind the Predictor (issue #32): the same numbers as torch's model,
the formats within the bars `auto` keeps, a cache that is checked before it is read and is
never half written, and torch wherever the graph does not reach."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from test_real_backbone import backbone, script  # noqa: F401 - fixtures: the real DINOv2 backbone

from vit_gui.errors import VitGuiError
from vit_gui.explain.maps import MapSpec
from vit_gui.model import openvino_engine
from vit_gui.model.engines import resolve_engine
from vit_gui.predict import Predictor

pytest.importorskip("openvino")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "engine-cache"
    monkeypatch.setenv("VIT_GUI_ENGINE_CACHE", str(folder))
    return folder


def images(photos, names=("chelsea", "coffee", "rocket")):
    return [Image.fromarray(photos[name]) for name in names]


def test_float32_gives_torchs_numbers(tiny_checkpoint, photos, cache):
    torch_run = Predictor.from_file(tiny_checkpoint)
    ours = Predictor.from_file(tiny_checkpoint, engine="openvino")
    assert ours.engine == "openvino" and ours.precision.engine == "openvino" and ours.precision.name == "float32"
    for batch in (images(photos), images(photos, ("astronaut",))):  # any batch size: the graph runs a photo a request
        for attentions in (True, False):
            expected = torch_run.predict(batch, with_attentions=attentions)
            got = ours.predict(batch, with_attentions=attentions)
            for a, b in zip(got, expected):
                assert [t.index for t in a.top] == [t.index for t in b.top]
                np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
                np.testing.assert_allclose(a.features, b.features, atol=1e-4, rtol=1e-4)
                np.testing.assert_allclose(a.patch_mean, b.patch_mean, atol=1e-4, rtol=1e-4)
                if attentions:
                    assert a.attentions.shape == b.attentions.shape
                    np.testing.assert_allclose(a.attentions.numpy(), b.attentions.numpy(), atol=1e-4)  # summation order
                    np.testing.assert_allclose(a.map(), b.map(), atol=1e-4)
                else:
                    assert a.attentions is None


def test_each_call_gets_attentions_of_its_own(tiny_checkpoint, photos, cache):
    """The graph writes every photo's attentions straight into the array it hands back, a
    photo a stream, two side by side (two threads): a later call (a batch, or one photo)
    must never write into an earlier call's array, and two streams must give one's numbers."""
    loaded = Predictor.from_file(tiny_checkpoint)
    size = tuple(loaded.info.preprocessing.input_size)
    side_by_side = openvino_engine.OpenVinoViT(loaded.model, "float32", size, threads=2)
    one_stream = openvino_engine.OpenVinoViT(loaded.model, "float32", size, threads=1)
    first_pixels = loaded.prepare(images(photos))[0]
    other_pixels = loaded.prepare(images(photos, ("astronaut", "coffee")))[0]
    with torch.inference_mode():
        first = side_by_side(first_pixels, return_attention=True)
        kept = first.attention_stack.clone()
        side_by_side(other_pixels, return_attention=True)
        alone = side_by_side(other_pixels[:1], return_attention=True)
        side_by_side(first_pixels, return_attention=True)
        serial = one_stream(first_pixels, return_attention=True)
        plain = side_by_side(first_pixels)  # without the attentions: the other graph, also a photo a stream
        reference = loaded.model(first_pixels, return_attention=True)
    assert torch.equal(first.attention_stack, kept)
    assert first.attention_stack.shape == (3, len(loaded.model.blocks), *reference.attentions[0].shape[1:])
    torch.testing.assert_close(first.attention_stack, serial.attention_stack, atol=1e-5, rtol=0)
    torch.testing.assert_close(first.attention_stack, torch.stack(reference.attentions, 1), atol=1e-4, rtol=0)
    torch.testing.assert_close(first.features, reference.features, atol=1e-4, rtol=1e-4)
    assert alone.attention_stack.shape[0] == 1
    assert plain.attention_stack is None and plain.attentions is None
    torch.testing.assert_close(plain.features, reference.features, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(plain.logits, reference.logits, atol=1e-4, rtol=1e-4)


def test_a_photo_that_fails_leaves_no_request_holding_the_callers_array(tiny_checkpoint, photos, cache,
                                                                        monkeypatch):
    """When one photo's run fails, the call raises, but only after every request has
    finished and let go of the array it was writing into (which the failed call frees):
    none may go on writing into freed memory, and the next call works."""
    loaded = Predictor.from_file(tiny_checkpoint)
    size = tuple(loaded.info.preprocessing.input_size)
    engine = openvino_engine.OpenVinoViT(loaded.model, "float32", size, threads=2)
    pixels = loaded.prepare(images(photos))[0]
    requests = engine._requests(True)
    assert len(requests) == 2

    def broken(*_args):
        raise RuntimeError("this photo's run failed")

    requests[0].set_callback(broken, None)
    handed_out, real_empty = [], openvino_engine.ATTENTIONS.empty

    def watched_empty(*args, **kwargs):  # the arrays the engine allocates for the attentions
        array = real_empty(*args, **kwargs)
        handed_out.append(array)
        return array

    with torch.inference_mode(), pytest.raises(RuntimeError, match="failed"), monkeypatch.context() as patch:
        patch.setattr(openvino_engine.ATTENTIONS, "empty", watched_empty)
        engine(pixels, return_attention=True)
    (stack,) = [a for a in handed_out if a.ndim == 5]
    assert requests[1].wait_for(0)  # finished: not still writing into it
    for request in requests:  # none still points into it (the array is only alive here because the test kept it)
        assert not np.may_share_memory(request.get_output_tensor(3).data, stack)
    requests[0].set_callback(lambda *_args: None, None)
    with torch.inference_mode():
        again = engine(pixels, return_attention=True)
        reference = loaded.model(pixels, return_attention=True)
    torch.testing.assert_close(again.attention_stack, torch.stack(reference.attentions, 1), atol=1e-4, rtol=0)


def test_int8_runs_its_unquantised_layers_in_bfloat16_only_where_native(monkeypatch):
    from vit_gui.model import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert [openvino_engine.inference_precision(n) for n in ("float32", "bfloat16", "int8")] == ["f32", "bf16", "bf16"]
    native = openvino_engine.cache_key("w", (224, 224), "int8", True)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert [openvino_engine.inference_precision(n) for n in ("float32", "bfloat16", "int8")] == ["f32", "bf16", "f32"]
    assert openvino_engine.cache_key("w", (224, 224), "int8", True) != native  # its attentions come in another type


def test_what_the_graph_does_not_cover_runs_on_torch(tiny_checkpoint, photos, cache):
    """Token drop (the check), another input size and gradients go to the float32 torch
    model, the same one the check's other calls use (predictor.torch_model)."""
    ours = Predictor.from_file(tiny_checkpoint, engine="openvino")
    assert isinstance(ours.torch_model, torch.nn.Module) and ours.torch_model is ours.gradient_model
    pixels = ours.prepare(images(photos, ("chelsea",)))[0]
    keep = torch.zeros(1, ours.model.grid_for(*pixels.shape[-2:])[0] ** 2, dtype=torch.bool)
    keep[:, ::3] = True
    with torch.inference_mode():
        dropped = ours.model(pixels, keep=keep)
        reference = ours.torch_model(pixels, keep=keep)
        smaller = ours.model(pixels[..., :160, :160])
    assert torch.equal(dropped.logits, reference.logits)
    assert smaller.logits.shape == reference.logits.shape
    grid_map, _ = ours.gradient_map(images(photos, ("chelsea",))[0], MapSpec("class", class_index=3))
    assert grid_map.shape == ours.model.grid_for(*pixels.shape[-2:]) and np.isfinite(grid_map).all()


def test_the_cache_is_read_only_when_its_digest_matches(tiny_checkpoint, photos, cache, monkeypatch):
    first = Predictor.from_file(tiny_checkpoint, engine="openvino").predict(images(photos), with_attentions=True)
    folders = [p for p in cache.iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1 and (folders[0] / "model.xml").is_file() and not list(cache.glob(".converting-*"))
    record = json.loads((folders[0] / "digest.json").read_text())
    assert folders[0].name == record["key"][:32]

    def no_conversion(*_args, **_kwargs):
        raise AssertionError("converted again although the cache matched")

    import openvino as ov
    monkeypatch.setattr(ov, "convert_model", no_conversion)
    again = Predictor.from_file(tiny_checkpoint, engine="openvino").predict(images(photos), with_attentions=True)
    for a, b in zip(again, first):
        np.testing.assert_array_equal(a.attentions.numpy(), b.attentions.numpy())
    # a cache whose digest is not the model's is not read: converted again (here: refused)
    (folders[0] / "digest.json").write_text(json.dumps({**record, "key": "0" * 64}))
    with pytest.raises(VitGuiError, match="converted again"):
        Predictor.from_file(tiny_checkpoint, engine="openvino")


def test_other_weights_get_their_own_graph(tiny_checkpoint, tiny_hf, tmp_path, cache):
    from conftest import write_checkpoint

    Predictor.from_file(tiny_checkpoint, engine="openvino")
    with torch.no_grad():
        changed = type(tiny_hf)(tiny_hf.config)
        changed.load_state_dict(tiny_hf.state_dict())
        changed.classifier.bias.add_(1.0)
    other = write_checkpoint(changed, tmp_path, "other.pth", sidecar=json.loads(
        tiny_checkpoint.with_name("model.pth.json").read_text()))
    Predictor.from_file(other, engine="openvino")
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2


def test_a_cache_that_cannot_be_written_costs_only_speed(tiny_checkpoint, photos, cache, monkeypatch):
    """A write that fails midway (a full disk) leaves neither a cache nor a half one."""
    import openvino as ov

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ov, "save_model", full_disk)
    ours = Predictor.from_file(tiny_checkpoint, engine="openvino")
    assert ours.engine == "openvino" and ours.predict(images(photos))[0].top
    assert [p for p in cache.iterdir()] == []


def test_auto_falls_back_to_torch_saying_why(tiny_checkpoint, cache, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("this CPU is not supported")

    monkeypatch.setattr(openvino_engine, "converted_graph", broken)
    monkeypatch.delenv("VIT_GUI_ENGINE", raising=False)
    ours = Predictor.from_file(tiny_checkpoint, engine="auto")
    assert ours.engine == "torch" and ours.precision.engine == "torch"
    assert any("OpenVINO could not run this model" in n for n in ours.notices)
    with pytest.raises(VitGuiError, match="not supported"):
        Predictor.from_file(tiny_checkpoint, engine="openvino")


def test_which_engine(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    monkeypatch.delenv("VIT_GUI_ENGINE", raising=False)
    assert resolve_engine("auto", cpu)[0] == "openvino"
    assert resolve_engine("auto", gpu)[0] == "torch"
    assert resolve_engine("torch", cpu)[0] == "torch"
    with pytest.raises(ValueError, match="CPU only"):
        resolve_engine("openvino", gpu)
    monkeypatch.setenv("VIT_GUI_ENGINE", "torch")
    assert resolve_engine("auto", cpu) == ("torch", "VIT_GUI_ENGINE=torch")
    monkeypatch.delenv("VIT_GUI_ENGINE")
    monkeypatch.setattr(openvino_engine, "available", lambda: "OpenVINO is not installed (ImportError)")
    assert resolve_engine("auto", cpu) == ("torch", "OpenVINO is not installed (ImportError)")
    with pytest.raises(ValueError, match="pip install openvino"):
        resolve_engine("openvino", cpu)


@pytest.mark.parametrize("name", ["bfloat16", "int8"])
def test_the_real_backbones_formats_keep_features_and_maps(backbone, photos, cache, name):  # noqa: F811
    """On the built-in DINOv2, the bars `auto` holds a format to: features' cosine to torch's
    float32 at least 0.999 (bfloat16) / 0.995 (int8), rollout maps within 0.05, on real photos
    that are not the calibration photos."""
    path = backbone[0]
    reference = Predictor.from_file(path).predict(images(photos, ("chelsea", "coffee", "rocket", "astronaut")),
                                                  with_attentions=True)
    if name == "bfloat16" and not openvino_engine_has_bf16():
        name = "int8"  # OpenVINO emulates nothing: without native bfloat16 the hint means float32
    ours = Predictor.from_file(path, precision=name, engine="openvino")
    got = ours.predict(images(photos, ("chelsea", "coffee", "rocket", "astronaut")), with_attentions=True)
    bar = 0.999 if name == "bfloat16" else 0.995
    for a, b in zip(got, reference):
        cosine = float(a.features @ b.features / np.linalg.norm(a.features) / np.linalg.norm(b.features))
        assert cosine >= bar
        assert np.abs(a.map() - b.map()).max() <= 0.05
    assert ours.precision.name == name and ours.precision.agreement >= bar


def openvino_engine_has_bf16() -> bool:
    from vit_gui.model.precision import cpu_has_native_bf16

    return cpu_has_native_bf16()


def test_a_ctrl_c_after_engines_are_released_is_still_a_ctrl_c(tiny_checkpoint, cache):
    """Two engines, each with both its graphs, released in the order they were made (as when
    the second of two models side by side is closed last), then a real SIGINT: it must arrive
    as KeyboardInterrupt. With a Core per graph, each CPU plugin set an alternate signal stack
    of its own and put back the one it found when released, so the last one put back a freed
    stack and the SIGINT ended the process with a segmentation fault. In a fresh Python:
    that crash would end pytest."""
    program = textwrap.dedent("""
        import ctypes, gc, os, signal, sys, time
        import torch
        from vit_gui.model.openvino_engine import OpenVinoViT
        from vit_gui.predict import Predictor

        class Stack(ctypes.Structure):
            _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

        def alternate_stack_usable():
            now = Stack()
            ctypes.CDLL(None).sigaltstack(None, ctypes.byref(now))
            if now.flags & 2:  # SS_DISABLE: handlers run on the thread's own stack
                return True
            spans = [[int(end, 16) for end in line.split()[0].split("-")] for line in open("/proc/self/maps")]
            return any(low <= now.sp and now.sp + now.size <= high for low, high in spans)

        loaded = Predictor.from_file(sys.argv[1])
        size = tuple(loaded.info.preprocessing.input_size)
        first = OpenVinoViT(loaded.model, "float32", size, threads=1)
        second = OpenVinoViT(loaded.model, "float32", size, threads=1)
        with torch.no_grad():  # as the Predictor calls them (with gradients on, the torch model answers)
            first(torch.zeros(1, 3, *size))  # features only: each engine's second graph
            second(torch.zeros(1, 3, *size))
        assert sorted(first._request_sets) == sorted(second._request_sets) == [False, True]
        del first  # the order they were made in (a list would let go of its last item first)
        gc.collect()
        del second
        gc.collect()
        print("usable", alternate_stack_usable(), flush=True)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
            print("no KeyboardInterrupt")
        except KeyboardInterrupt:
            print("KeyboardInterrupt")
    """)
    done = subprocess.run([sys.executable, "-c", program, str(tiny_checkpoint)], capture_output=True, text=True,
                          timeout=300)
    assert (done.returncode, done.stdout.split("\n")) == (0, ["usable True", "KeyboardInterrupt", ""]), done.stderr[-800:]

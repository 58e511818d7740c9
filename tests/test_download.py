"""The model downloader against an HTTP server on 127.0.0.1 serving a real checkpoint."""

import dataclasses
import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from safetensors.torch import save

from vit_gui.cli import main
from vit_gui.model import catalog
from vit_gui.model.checkpoints import load_model
from vit_gui.model.download import DownloadCancelled, DownloadError, download_model, installed_path, partial_path
from vit_gui.model.vit import VisionTransformer


def small_known_model(url, **overrides) -> catalog.KnownModel:
    vit = VisionTransformer(embed_dim=192, depth=2, num_heads=3, num_classes=1000)
    params = sum(p.numel() for p in vit.parameters())
    fields = dict(name="test-vit", title="Test ViT", timm_name="test_vit_tiny.d2", url=url, license="MIT",
                  depth=2, embed_dim=192, num_heads=3, patch_size=16, params=params, imagenet_top1=50.0,
                  mean=catalog.IMAGENET_MEAN, std=catalog.IMAGENET_STD)
    return dataclasses.replace(catalog.KnownModel(**fields), **overrides)


@pytest.fixture(scope="module")
def weights():
    torch.manual_seed(0)
    vit = VisionTransformer(embed_dim=192, depth=2, num_heads=3, num_classes=1000).eval()
    return vit, save({k: v.contiguous() for k, v in vit.state_dict().items()})


class Server:
    """Serves `body` with Range support; knobs simulate a flaky or broken server."""

    def __init__(self, body: bytes):
        self.body, self.status, self.drop_after, self.honour_range = body, 200, None, True
        self.slow = False  # send in small pieces with pauses, like a slow connection
        self.hostile = None  # "endless": a body that never ends; "trickle": a byte at a time; "silent"
        self.announce = None  # a Content-Length to claim instead of the true one
        self.ranges: list[str | None] = []
        self.stopped = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                if server.status != 200:
                    self.send_error(server.status)
                    return
                if server.hostile or server.announce:
                    self.send_response(200)
                    if server.announce:
                        self.send_header("Content-Length", str(server.announce))
                    self.end_headers()
                    try:
                        while server.hostile and not server.stopped:
                            if server.hostile == "endless":
                                self.wfile.write(bytes(64 * 1024))
                                if server.slow:
                                    time.sleep(0.01)
                            elif server.hostile == "trickle":
                                self.wfile.write(b"x")
                                self.wfile.flush()
                                time.sleep(0.2)
                            else:
                                time.sleep(0.05)
                    except OSError:
                        pass  # the client cut us off, as it should
                    return
                start = 0
                if server.honour_range and self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    if start >= len(server.body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.body) - 1}/{len(server.body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(server.body) - start))
                self.end_headers()
                payload = server.body[start:]
                if server.drop_after is not None:
                    payload = payload[: server.drop_after]
                    server.drop_after = None  # only the first request is cut short
                    self.wfile.write(payload)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if server.slow:
                    for i in range(0, len(payload), 32 * 1024):
                        self.wfile.write(payload[i : i + 32 * 1024])
                        time.sleep(0.005)
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.safetensors"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.stopped = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(weights):
    srv = Server(weights[1])
    yield srv
    srv.close()


def installed_weights(data_dir):
    return sorted((data_dir / "models").glob("*.safetensors")) if (data_dir / "models").exists() else []


def test_complete_download_installs_a_working_model(server, weights, private_data_dir, monkeypatch, tmp_path):
    monkeypatch.setattr(catalog, "model_data_dir", lambda: tmp_path / "no-shipped-models")  # models a build bundled
    model = small_known_model(server.url)
    seen = []
    path = download_model(model, progress=lambda done, total: seen.append((done, total)))
    assert path == installed_path(model) and path.read_bytes() == weights[1]
    assert seen[-1] == (len(weights[1]), len(weights[1]))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not partial_path(model).exists()

    loaded = load_model(path)
    assert loaded.info.name == "Test ViT" and loaded.info.preprocessing.mean == catalog.IMAGENET_MEAN
    assert loaded.info.label(281) == "tabby, tabby cat" and loaded.info.source == server.url
    pixels = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(pixels).logits, weights[0](pixels).logits)
    entries = catalog.discover_models()
    assert [(e.path, e.origin, e.imagenet_top1) for e in entries] == [(path, "models folder", 50.0)]
    assert catalog.default_model_path() == path


def test_interrupted_download_resumes_with_a_range_request(server, weights, private_data_dir):
    model = small_known_model(server.url)
    server.drop_after = len(weights[1]) * 2 // 5
    with pytest.raises(DownloadError, match="run it again to resume"):
        download_model(model)
    assert partial_path(model).stat().st_size == len(weights[1]) * 2 // 5
    assert installed_weights(private_data_dir) == []

    path = download_model(model)
    assert server.ranges[-1] == f"bytes={len(weights[1]) * 2 // 5}-"
    assert path.read_bytes() == weights[1]


def test_server_that_ignores_ranges_restarts_cleanly(server, weights):
    model = small_known_model(server.url)
    server.drop_after = 1000
    with pytest.raises(DownloadError):
        download_model(model)
    server.honour_range = False
    assert download_model(model).read_bytes() == weights[1]


def test_wrong_size_is_rejected_and_nothing_installed(server, weights, private_data_dir):
    server.body = weights[1][: len(weights[1]) // 2]
    model = small_known_model(server.url)
    with pytest.raises(DownloadError, match="expected about"):
        download_model(model)
    assert installed_weights(private_data_dir) == [] and not partial_path(model).exists()


def test_corrupt_header_is_rejected(server, weights, private_data_dir):
    body = bytearray(weights[1])
    body[8:40] = b"#" * 32  # the JSON header, mangled
    server.body = bytes(body)
    with pytest.raises(DownloadError, match="not a valid Test ViT checkpoint"):
        download_model(small_known_model(server.url))
    assert installed_weights(private_data_dir) == []


def test_corrupt_tensor_bytes_fail_the_sha256(server, weights, private_data_dir):
    good_digest = hashlib.sha256(weights[1]).hexdigest()
    body = bytearray(weights[1])
    body[-100:] = bytes(100)  # parses fine, but the weights are wrong
    server.body = bytes(body)
    with pytest.raises(DownloadError, match="corrupt .SHA-256"):
        download_model(small_known_model(server.url, sha256=good_digest))
    assert installed_weights(private_data_dir) == []
    server.body = weights[1]
    assert download_model(small_known_model(server.url, sha256=good_digest)).is_file()


def test_a_different_architecture_is_rejected(server):
    with pytest.raises(DownloadError, match="different model|not a valid"):
        download_model(small_known_model(server.url, depth=3))


def test_server_error(server, private_data_dir):
    server.status = 500
    with pytest.raises(DownloadError, match="answered 500"):
        download_model(small_known_model(server.url))
    assert installed_weights(private_data_dir) == []


def test_cancel_keeps_the_part_and_a_later_download_resumes(server, weights, private_data_dir, monkeypatch):
    monkeypatch.setattr("vit_gui.model.download.CHUNK", 64 * 1024)
    model = small_known_model(server.url)
    calls = []
    with pytest.raises(DownloadCancelled):
        download_model(model, progress=lambda d, t: calls.append(d), cancelled=lambda: len(calls) > 3)
    kept = partial_path(model).stat().st_size
    assert 0 < kept < len(weights[1])
    assert installed_weights(private_data_dir) == []
    assert download_model(model).read_bytes() == weights[1]
    assert server.ranges[-1] == f"bytes={kept}-"


def test_cli_models_get_and_list(server, capsys, monkeypatch):
    monkeypatch.setattr(catalog, "CATALOG", catalog.CATALOG + (small_known_model("http://unused.invalid/x"),))
    assert main(["models", "get", "test-vit", "--url", server.url]) == 0
    assert "installed" in capsys.readouterr().err
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "test-vit" in out and "Test ViT  [models folder]" in out
    assert main(["models", "get", "no-such-model"]) == 2
    assert "known models: vit-b16" in capsys.readouterr().err


def test_unreachable_source_is_a_clear_error():
    with pytest.raises(DownloadError, match="interrupted|failed"):
        download_model(small_known_model("http://127.0.0.1:9/none"), timeout=5)


def test_get_models_dialog_downloads_cancels_and_installs(qtbot, server, weights, monkeypatch, private_data_dir):
    from vit_gui.gui.get_models import GetModelsDialog

    monkeypatch.setattr("vit_gui.model.download.CHUNK", 64 * 1024)
    model = small_known_model(server.url)
    monkeypatch.setattr(catalog, "CATALOG", catalog.CATALOG + (model,))
    dialog = GetModelsDialog()
    qtbot.addWidget(dialog)
    assert set(dialog.rows) >= {"vit-b16", "test-vit"} and not installed_weights(private_data_dir)

    # cancel right after the first progress report: nothing installed, the part kept
    server.slow = True
    dialog.worker.progress.connect(dialog.cancel)
    dialog.download("test-vit")
    qtbot.waitUntil(lambda: dialog.active is None, timeout=30_000)
    dialog.worker.progress.disconnect(dialog.cancel)
    assert "cancelled" in dialog.rows["test-vit"]["status"].text()
    assert installed_weights(private_data_dir) == [] and partial_path(model).exists()

    with qtbot.waitSignal(dialog.model_installed, timeout=30_000) as installed:
        dialog.download("test-vit")
    assert installed.args == [str(installed_path(model))]
    assert installed_path(model).read_bytes() == weights[1]
    assert dialog.rows["test-vit"]["status"].text() == "installed"
    dialog.done(0)
    assert dialog.thread.isFinished()


def test_a_backbone_with_registers_installs_as_a_backbone(private_data_dir):
    """A DINOv2-style catalogue entry: no head, 4 registers, 518/14 = 37-patch grid, no names."""
    torch.manual_seed(0)
    vit = VisionTransformer(embed_dim=192, depth=2, num_heads=3, num_classes=0, patch_size=14, grid=(37, 37),
                            layer_scale=True, num_reg_tokens=4, prefix_pos_tokens=0).eval()
    body = save({k: v.contiguous() for k, v in vit.state_dict().items()})
    server = Server(body)
    try:
        backbone = small_known_model(server.url, num_classes=0, registers=4, patch_size=14, input_size=518,
                                     crop_pct=1.0, imagenet_top1=None, params=sum(p.numel() for p in vit.parameters()))
        path = download_model(backbone)
        info = load_model(path).info
        assert info.architecture.is_backbone and info.architecture.num_reg_tokens == 4 and info.labels == ()
        assert info.preprocessing.input_size == (518, 518) and "imagenet_top1" not in backbone.sidecar()
        # the same file is not the classifier a 1000-class entry promises
        with pytest.raises(DownloadError, match="different model"):
            download_model(dataclasses.replace(backbone, name="other", timm_name="other", num_classes=1000))
    finally:
        server.close()


# ---- hostile servers: size cap, stall, deadline, prompt cancel --------------------------------

def test_an_endless_body_stops_at_the_expected_size(server, private_data_dir):
    server.hostile = "endless"
    model = small_known_model(server.url)
    with pytest.raises(DownloadError, match="sent more than the .* bytes this model can have"):
        download_model(model)
    assert not partial_path(model).exists() and installed_weights(private_data_dir) == []


def test_an_announced_size_far_too_big_is_not_downloaded(server):
    server.announce = 50 * 1024**3
    with pytest.raises(DownloadError, match="announces 53,687,091,200 bytes"):
        download_model(small_known_model(server.url))


def test_a_trickle_is_cut_off_as_a_stall(server, monkeypatch):
    import vit_gui.model.download as download

    monkeypatch.setattr(download, "STALL_SECONDS", 1.0)
    server.hostile = "trickle"  # 5 bytes a second: every read succeeds, none is ever timed out
    start = time.monotonic()
    with pytest.raises(DownloadError, match="stalled"):
        download_model(small_known_model(server.url))
    assert time.monotonic() - start < 10


def test_the_overall_deadline_stops_a_slow_download(server, monkeypatch):
    import vit_gui.model.download as download

    monkeypatch.setattr(download, "CONNECT_SECONDS", 0.5)
    monkeypatch.setattr(download, "MIN_RATE", 10**12)
    server.hostile = "endless"
    server.slow = True  # at full local speed the 1.5 s deadline left a 2 GB partial file behind
    server.announce = None
    monkeypatch.setattr(download, "EXTRA_BYTES", 10**12)  # so the size cap does not stop it first
    with pytest.raises(DownloadError, match="took too long"):
        download_model(small_known_model(server.url))


def test_cancel_acts_within_a_second_while_the_server_is_silent(server):
    server.hostile = "silent"
    asked = time.monotonic() + 0.5
    with pytest.raises(DownloadCancelled):
        download_model(small_known_model(server.url), cancelled=lambda: time.monotonic() > asked)
    # the blocked read was woken (within the watchdog's 0.2 s look), not waited out (the 30 s
    # read timeout); the bound leaves room for a busy machine
    assert time.monotonic() - asked < 5.0


def test_closing_the_dialog_during_a_silent_download_does_not_freeze(qtbot, server, monkeypatch):
    from vit_gui.gui.get_models import GetModelsDialog

    model = small_known_model(server.url)
    monkeypatch.setattr(catalog, "CATALOG", catalog.CATALOG + (model,))
    server.hostile = "silent"  # headers, then nothing: the worker is blocked in a read
    dialog = GetModelsDialog()
    qtbot.addWidget(dialog)
    dialog.download("test-vit")
    qtbot.wait(500)
    closing = time.monotonic()
    dialog.done(0)  # cancels, quits and waits for the worker thread
    assert dialog.thread.isFinished()
    assert time.monotonic() - closing < 5.0  # was 17 s (a 30 s read timeout); the watchdog wakes it at once


def test_get_models_groups_by_need_recommends_one_each_and_shows_a_whole_error(qtbot):
    import socket

    from vit_gui.gui.get_models import RECOMMENDED, GetModelsDialog, needs_of
    from vit_gui.model.download import unreachable

    groups = needs_of(catalog.CATALOG)
    assert [sum(m.name in RECOMMENDED for m in models) for _, models in groups] == [1, 1]  # one pick per need
    assert {m.name for _, models in groups for m in models} == {m.name for m in catalog.CATALOG}  # none dropped
    dialog = GetModelsDialog()
    qtbot.addWidget(dialog)
    text = "\n".join(label.text() for label in dialog.findChildren(type(dialog.rows["vit-b16"]["status"])))
    for jargon in ("AugReg", "21k", "LVD-142M", "top-1"):
        assert jargon not in text  # in the tooltips only
    error = unreachable("https://huggingface.co/x", socket.gaierror(-3, "Temporary failure in name resolution"))
    dialog.on_finished("vit-s16", "", error)
    status = dialog.rows["vit-s16"]["status"]
    assert "nothing was downloaded. Check the connection" in status.text() and not status.isHidden()
    grid = dialog.layout().itemAt(1).widget().widget().layout()
    assert grid.getItemPosition(grid.indexOf(status))[1:] == (0, 1, grid.columnCount())  # the whole width
    dialog.done(0)

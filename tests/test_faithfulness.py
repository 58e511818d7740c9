"""Deletion and insertion curves: a known answer from a ViT built by hand, the engine's
plumbing (token dropping equals a shorter sequence), and the CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vit_gui.explain.faithfulness import curves, keep_masks, removal_counts
from vit_gui.model.safetensors_io import write_safetensors
from vit_gui.model.vit import VisionTransformer
from vit_gui.predict import Predictor

CHOSEN = (5, 10)  # of a 4 x 4 patch grid: the only patches the class depends on
BIG = 20.0


def constructed_vit() -> VisionTransformer:
    """A one-block ViT whose class depends only on the CHOSEN patches' brightness.

    Width 4: [brightness, chosen flag, class-token flag, 0]. The LayerNorms are made (almost)
    plain centring by a huge epsilon and a matching weight, so each readout below is a
    difference of two coordinates, which centring leaves alone. The class token's query
    meets a key equal to the chosen flag (score 10 for chosen patches, 0 elsewhere), its value
    is the brightness, and the head says class 1 when the attended brightness exceeds 0.5.
    """
    model = VisionTransformer(grid=(4, 4), patch_size=8, num_classes=2, embed_dim=4, depth=1, num_heads=1,
                              mlp_hidden=4, layer_norm_eps=1e6)
    eps_scale = 1e3  # sqrt(eps): LayerNorm(x) * this = x - mean(x) while the variance is small
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.patch_embed.proj.weight[0] = 1.0 / (3 * 8 * 8)  # brightness: the patch's mean value
        model.pos_embed[0, 1 + torch.tensor(CHOSEN), 1] = 1.0  # the chosen flag, by position
        model.cls_token[0, 0, 2] = 1.0
        for norm in (model.blocks[0].norm1, model.blocks[0].norm2, model.norm):
            norm.weight.fill_(eps_scale)
        qkv = model.blocks[0].attn.qkv.weight  # rows: q (4), k (4), v (4)
        qkv[0, 2], qkv[0, 3] = BIG, -BIG  # q0 = 20 * (x2 - x3): 20 for the class token
        qkv[4, 1], qkv[4, 3] = 1.0, -1.0  # k0 = x1 - x3: the chosen flag
        qkv[8, 0], qkv[8, 3] = 1.0, -1.0  # v0 = x0 - x3: the brightness
        model.blocks[0].attn.proj.weight[0, 0] = 1.0
        model.head.weight[1, 0], model.head.weight[1, 1] = BIG, -BIG  # 20 * (x0 - x1) = 20 * brightness
        model.head.bias[0] = BIG * 0.5
    return model.eval()


@pytest.fixture
def constructed(tmp_path):
    """Its huge epsilon is no sidecar value a user would give (validation refuses it), so the
    predictor is assembled around the model in memory."""
    from vit_gui.model.checkpoints import LoadedModel
    from vit_gui.model.config import Architecture, ModelInfo, Preprocessing

    arch = Architecture(depth=1, embed_dim=4, num_heads=1, patch_size=8, grid=(4, 4), num_classes=2, mlp_hidden=4,
                        layer_norm_eps=1e6)
    prep = Preprocessing(input_size=(32, 32), mean=(0, 0, 0), std=(1, 1, 1), crop_pct=1.0)
    info = ModelInfo("constructed", tmp_path / "constructed", arch, prep, ("dark", "bright"), "timm")
    return Predictor(LoadedModel(constructed_vit(), info))


def bright_chosen_image() -> Image.Image:
    pixels = np.zeros((32, 32, 3), np.uint8)
    for index in CHOSEN:
        row, col = divmod(index, 4)
        pixels[8 * row : 8 * row + 8, 8 * col : 8 * col + 8] = 255
    return Image.fromarray(pixels)


def test_the_constructed_model_reads_only_the_chosen_patches(constructed):
    image = bright_chosen_image()
    assert constructed.predict([image])[0].top[0].index == 1
    other = np.asarray(image).copy()
    other[0:8, 0:8] = 255  # a bright patch that is not chosen changes nothing
    assert constructed.predict([Image.fromarray(other)])[0].probs[1] > 0.99
    dark = np.asarray(image).copy()
    dark[8:16, 8:16] = 0  # patch 5 darkened: the attended brightness halves, class 0
    assert constructed.predict([Image.fromarray(dark)])[0].top[0].index == 0


@pytest.mark.parametrize("removal", ["drop", "mean"])
def test_known_answer_class_map_ranks_the_chosen_patches_and_deletion_falls_at_once(constructed, removal):
    image = bright_chosen_image()
    grid_map, _ = constructed.class_map(image, 1)
    assert set(np.argsort(-grid_map.ravel())[:2]) == set(CHOSEN)
    result = curves(constructed, image, grid_map, class_index=1, removal=removal, random_orders=8)
    assert result.deletion.probs[0] > 0.99 and result.deletion.probs[1] < 0.01  # both chosen gone at step 1
    assert not result.deletion.holds[1]
    assert result.random.probs[1] > 0.5  # a random 10% seldom takes both chosen patches
    assert result.insertion.probs[:8].min() > 0.99  # least relevant first: holds while the chosen remain
    assert result.deletion.auc < result.random.auc < result.insertion.auc


def test_dropping_tokens_by_mask_equals_a_shorter_sequence(tiny_checkpoint, photos):
    """Masking a patch out of every attention is the same as removing it from the sequence."""
    predictor = Predictor.from_file(tiny_checkpoint)
    model = predictor.model
    pixels, _ = predictor.prepare([Image.fromarray(photos["chelsea"])])
    keep = torch.ones(1, 196, dtype=torch.bool)
    keep[0, [3, 50, 51, 120]] = False
    masked = model(pixels, keep=keep).logits
    with torch.no_grad():
        grid = model.grid_for(*pixels.shape[-2:])
        x = model._embed(pixels, grid)
        x = torch.cat([x[:, :1], x[:, 1:][:, keep[0]]], dim=1)  # the patches really dropped
        for block in model.blocks:
            x, _ = block(x)
        shorter = model.head(model.norm(x)[:, 0])
    torch.testing.assert_close(masked, shorter, atol=1e-5, rtol=0)


def test_keep_masks_remove_a_tenth_a_step_in_order():
    order = np.array([3, 1, 2, 0])
    masks = keep_masks([order], 4, steps=4).numpy()
    assert removal_counts(196) == [0, 20, 39, 59, 78, 98, 118, 137, 157, 176, 196]
    assert masks.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_a_backbone_has_no_curve(tmp_path):
    torch.manual_seed(0)
    path = write_safetensors(tmp_path / "b.safetensors", VisionTransformer(embed_dim=192, depth=1, num_heads=3,
                                                                           num_classes=0).state_dict())
    with pytest.raises(ValueError, match="no classes"):
        curves(Predictor.from_file(path), Image.new("RGB", (64, 64)), np.zeros((14, 14)))


def test_cli_adds_the_areas_to_json_and_csv(tmp_path, tiny_checkpoint, photo_folder, capsys):
    import csv
    import io

    from vit_gui.cli import main

    code = main(["classify", str(photo_folder / "chelsea.jpg"), "--model", str(tiny_checkpoint), "--faithfulness",
                 "--layer", "4"])
    record = json.loads(capsys.readouterr()[0])[0]
    figures = record["faithfulness"]
    assert code == 0 and figures["map"] == "block4" and figures["class_index"] == record["top"][0]["index"]
    assert len(figures["deletion"]) == 11 and 0 <= figures["deletion_auc"] <= 1 and 0 <= figures["random_auc"] <= 1
    code = main(["classify", str(photo_folder / "chelsea.jpg"), "--model", str(tiny_checkpoint), "--faithfulness",
                 "--class-index", "3", "--removal", "mean", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr()[0])))
    assert code == 0 and {r["deletion_auc"] for r in rows} != {""} and len({r["insertion_auc"] for r in rows}) == 1


def test_check_this_map_in_the_window_plots_the_curves_and_can_be_cancelled(qtbot, tmp_path, tiny_checkpoint,
                                                                             photo_folder, monkeypatch):
    from gui_helpers import drop, make_window, wait_idle, wait_map

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.attention
    wait_map(qtbot, view)
    view.check.click()
    assert view.checking and view.check.text() == "Cancel check"
    qtbot.waitUntil(lambda: not view.checking, timeout=30_000)
    assert view.check_plot.isVisible() and not view.check_plot.pixmap().isNull()
    assert "Areas: deletion" in view.check_result.text()
    view.opacity.setValue(20)  # a look-only change keeps the check
    assert view.check_plot.isVisible()
    view.set_method("head")  # another map: the check no longer applies
    assert not view.check_plot.isVisible()

    import vit_gui.explain.faithfulness as faithfulness

    monkeypatch.setattr(faithfulness, "CHUNK", 1)  # one sequence a run: time to cancel between runs
    wait_map(qtbot, view)
    view.check.click()
    view.check.click()  # "Cancel check"
    qtbot.waitUntil(lambda: not view.checking, timeout=30_000)
    assert "cancelled" in view.check_result.text() and not view.check_plot.isVisible()

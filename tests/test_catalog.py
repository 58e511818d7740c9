"""The catalogue's facts, the ImageNet class names, and model discovery."""

import json

import pytest
import torch

from vit_gui.errors import NoModelError
from vit_gui.model import catalog
from vit_gui.model.vit import VisionTransformer


@pytest.mark.parametrize("model", catalog.CATALOG, ids=lambda m: m.name)
def test_catalogue_entries_are_consistent(model):
    """Parameter counts are re-derived from the architecture (the download's size check rests
    on them); preprocessing facts are timm's pretrained configs for each family."""
    grid = model.input_size // model.patch_size
    vit = VisionTransformer(embed_dim=model.embed_dim, depth=model.depth, num_heads=model.num_heads,
                            patch_size=model.patch_size, num_classes=model.num_classes, grid=(grid, grid),
                            layer_scale=model.timm_name.endswith("lvd142m"), dist_token=model.distilled,
                            num_reg_tokens=model.registers, prefix_pos_tokens=0 if model.registers else None)
    assert model.params == sum(p.numel() for p in vit.parameters())
    assert model.url.startswith("https://") and model.timm_name in model.url
    assert model.license == "Apache-2.0" and model.interpolation == "bicubic"
    if model.timm_name.startswith("vit_") and not model.registers and "dinov2" not in model.timm_name:
        assert model.mean == model.std == (0.5, 0.5, 0.5)  # augreg ViTs: Inception mean/std
    else:  # DeiT and DINOv2: ImageNet mean/std
        assert model.mean == (0.485, 0.456, 0.406) and model.std == (0.229, 0.224, 0.225)
    if "dinov2" in model.timm_name:  # timm: 518 px, no crop, no head
        assert (model.input_size, model.crop_pct, model.num_classes, model.imagenet_top1) == (518, 1.0, 0, None)
    else:
        assert (model.input_size, model.crop_pct, model.num_classes) == (224, 0.9, 1000)
    sidecar = model.sidecar()
    assert sidecar["num_heads"] == model.num_heads and sidecar["source"] == model.url
    assert len(sidecar.get("labels", ())) == model.num_classes


def test_the_catalogue_has_the_seed_model_and_its_siblings():
    names = {m.timm_name for m in catalog.CATALOG}
    assert {"vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit_small_patch16_224.augreg_in21k_ft_in1k",
            "deit_tiny_patch16_224.fb_in1k", "deit_small_patch16_224.fb_in1k",
            "deit_base_distilled_patch16_224.fb_in1k", "vit_small_patch14_dinov2.lvd142m",
            "vit_small_patch14_reg4_dinov2.lvd142m", "vit_base_patch14_reg4_dinov2.lvd142m"} <= names
    assert catalog.known_model("vit-b16") is catalog.known_model("vit_base_patch16_224.augreg2_in21k_ft_in1k")
    # the digest the hub publishes for deit_tiny's model.safetensors (file page at commit 457c7ae)
    assert catalog.known_model("deit-ti16").sha256 == "21d4764d94f6c3ffdb6da3581115a0a1ee2d505537d96883b540e54766407c9e"


def test_an_unpinned_entry_says_so_and_a_pinned_one_resolves_its_commit():
    import dataclasses

    model = catalog.known_model("deit-s16")
    assert model.sidecar()["revision"] == "main (not pinned)" and "/resolve/main/" in model.url
    pinned = dataclasses.replace(model, revision="a" * 40, url="")
    assert f"/resolve/{'a' * 40}/" in pinned.url and pinned.sidecar()["revision"] == "a" * 40


def test_imagenet_labels():
    labels = catalog.imagenet_labels()
    assert len(labels) == 1000 and all(labels)
    assert labels[0] == "tench, Tinca tinca"
    assert labels[281] == "tabby, tabby cat" and labels[967] == "espresso" and labels[812] == "space shuttle"
    assert len(set(labels)) >= 998  # ImageNet has two 'crane' and two 'maillot' classes


def fake_model(folder, name, top1=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pth"
    path.write_bytes(b"weights")
    if top1 is not None:
        (folder / f"{name}.pth.json").write_text(json.dumps({"name": name.upper(), "imagenet_top1": top1}))
    return path


def test_discovery_orders_best_first_across_all_places(tmp_path, monkeypatch, private_data_dir):
    monkeypatch.setattr(catalog, "model_data_dir", lambda: tmp_path / "shipped")
    shipped = fake_model(tmp_path / "shipped", "small", 79.9)
    downloaded = fake_model(private_data_dir / "models", "big", 85.1)
    added = fake_model(tmp_path / "elsewhere", "mine")
    entries = catalog.discover_models([added, shipped])
    assert [(e.path, e.origin, e.name) for e in entries] == [
        (downloaded, "models folder", "BIG"), (shipped, "built-in", "SMALL"), (added, "added", "mine")]
    assert catalog.default_model_path() == downloaded


def test_no_model_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "model_data_dir", lambda: tmp_path / "nothing")
    with pytest.raises(NoModelError, match="vit-gui models get vit-b16"):
        catalog.default_model_path()


def test_a_1000_class_model_without_names_gets_imagenet_names(tmp_path):
    torch.manual_seed(0)
    vit = VisionTransformer(embed_dim=192, depth=1, num_heads=3, num_classes=1000)
    torch.save(vit.state_dict(), tmp_path / "plain.pth")
    from vit_gui.model.checkpoints import load_model

    info = load_model(tmp_path / "plain.pth").info
    assert info.label(285) == "Egyptian cat"
    assert any("ImageNet-1k" in w for w in info.warnings)

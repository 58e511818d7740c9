"""The catalogue's facts, the ImageNet class names, and model discovery."""

import json

import pytest
import torch

from vit_gui.errors import NoModelError
from vit_gui.model import catalog
from vit_gui.model.vit import VisionTransformer


@pytest.mark.parametrize("model", catalog.CATALOG, ids=lambda m: m.name)
def test_catalogue_entries_are_consistent(model):
    vit = VisionTransformer(embed_dim=model.embed_dim, depth=model.depth, num_heads=model.num_heads,
                            patch_size=model.patch_size, num_classes=1000)
    assert model.params == sum(p.numel() for p in vit.parameters())
    assert model.url.startswith("https://") and model.timm_name in model.url
    assert model.license and model.input_size == 224 and model.interpolation == "bicubic"
    if model.timm_name.startswith("vit_"):  # augreg ViTs were trained with Inception mean/std
        assert model.mean == model.std == (0.5, 0.5, 0.5) and model.crop_pct == 0.9
    else:  # DeiT: ImageNet mean/std
        assert model.mean == (0.485, 0.456, 0.406) and model.std == (0.229, 0.224, 0.225)
    sidecar = model.sidecar()
    assert len(sidecar["labels"]) == 1000 and sidecar["num_heads"] == model.num_heads


def test_the_catalogue_has_the_seed_model_and_its_siblings():
    names = {m.timm_name for m in catalog.CATALOG}
    assert {"vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit_small_patch16_224.augreg_in21k_ft_in1k",
            "deit_tiny_patch16_224.fb_in1k", "deit_small_patch16_224.fb_in1k"} <= names
    assert catalog.known_model("vit-b16") is catalog.known_model("vit_base_patch16_224.augreg2_in21k_ft_in1k")


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
        (downloaded, "downloaded", "BIG"), (shipped, "built-in", "SMALL"), (added, "added", "mine")]
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

"""One resource-path helper for a checkout, a plain pip install and a frozen build."""

import sys
from pathlib import Path

from vit_gui import resources


def test_a_checkout_finds_its_own_resources():
    assert resources.resource_path("imagenet_classes.txt").is_file()
    assert resources.resource_path("samples", "chelsea.jpg").is_file()
    assert resources.model_data_dir() == resources.app_root() / "model_data"


def test_a_frozen_build_looks_in_its_unpack_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.app_root() == tmp_path
    assert resources.resource_path("samples", "x.jpg") == tmp_path / "resources" / "samples" / "x.jpg"


def test_a_plain_install_looks_in_prefix_share(monkeypatch, tmp_path):
    package = tmp_path / "site-packages" / "vit_gui"
    package.mkdir(parents=True)
    monkeypatch.setattr(resources, "__file__", str(package / "resources.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "env"))
    assert resources.app_root() == Path(tmp_path / "env" / "share" / "vit-gui")

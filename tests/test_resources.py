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


def test_the_app_icon_exists_in_every_format_a_desktop_asks_for():
    from PIL import Image

    from vit_gui.resources import resource_path

    with Image.open(resource_path("vit-gui.png")) as png:
        assert png.size == (512, 512) and png.mode == "RGBA"
    with Image.open(resource_path("vit-gui.ico")) as ico:
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
    with Image.open(resource_path("vit-gui.icns")) as icns:
        assert icns.format == "ICNS"


def test_the_desktop_entry_opens_the_image_types_the_app_reads():
    import configparser
    import mimetypes

    from vit_gui.images import IMAGE_SUFFIXES
    from vit_gui.resources import resource_path

    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(resource_path("vit-gui.desktop"), encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Exec"] == "vit-gui %F" and desktop["Icon"] == "vit-gui" and desktop["Type"] == "Application"
    types = [t for t in desktop["MimeType"].split(";") if t]
    assert {"image/jpeg", "image/png"} <= set(types)
    extra = {"image/avif": ".avif", "image/x-portable-pixmap": ".ppm", "image/x-portable-graymap": ".pgm"}
    for mime in types:
        suffixes = set(mimetypes.guess_all_extensions(mime)) | ({extra[mime]} if mime in extra else set())
        assert suffixes & IMAGE_SUFFIXES, f"{mime}: the app reads none of {suffixes}"

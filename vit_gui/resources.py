"""One way to find the app's bundled files, from a source checkout or a frozen build."""

from __future__ import annotations

import sys
from pathlib import Path


def app_root() -> Path:
    """The folder holding `resources/` and `model_data/`: PyInstaller's unpack folder
    (`sys._MEIPASS`) when frozen, the repository root when run from a checkout (or an
    editable install), `<prefix>/share/vit-gui` after a plain `pip install`."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "resources").is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "vit-gui"


def resource_path(*parts: str) -> Path:
    return app_root().joinpath("resources", *parts)


def model_data_dir() -> Path:
    return app_root() / "model_data"

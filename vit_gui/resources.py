"""One way to find the app's bundled files, from a source checkout or a frozen build."""

from __future__ import annotations

import sys
from pathlib import Path


def app_root() -> Path:
    """The folder holding `resources/` and `model_data/`: the repository root when run from
    source, PyInstaller's unpack folder (`sys._MEIPASS`) when frozen."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parent.parent


def resource_path(*parts: str) -> Path:
    return app_root().joinpath("resources", *parts)


def model_data_dir() -> Path:
    return app_root() / "model_data"

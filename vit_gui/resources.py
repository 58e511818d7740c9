"""Where the app's files live: its bundled resources (from a source checkout, a plain install
or a frozen build) and the per-user data folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "vit-gui"


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


def user_data_dir() -> Path:
    """Per-user data folder, as platformdirs would place it; VIT_GUI_DATA_DIR overrides."""
    override = os.environ.get("VIT_GUI_DATA_DIR")
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / APP_NAME
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP_NAME
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / APP_NAME

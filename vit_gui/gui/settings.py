"""Typed access to QSettings that survives missing, stale or corrupt values.

A value of the wrong type (hand-edited or corrupt settings file) falls back to the
default instead of stopping the app from starting.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from vit_gui.file_kinds import not_regular_reason

MAX_RECENT = 10
MAX_SETTINGS_BYTES = 1 << 20  # ours are a few kB; a bigger file was not written by this app


def user_settings_path() -> Path:
    """Where QSettings keeps the user's INI settings (checked before Qt opens it)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "vit-gui" / "vit-gui.ini"


def settings_problem(path: Path) -> str | None:
    """Why the settings file must not be opened (Qt would hang on a pipe, crawl on a huge file)."""
    if not os.path.lexists(path):
        return None
    reason = not_regular_reason(path)
    if reason is not None:
        return f"the settings file {path} is {reason}" if reason.startswith("a ") else f"{path}: {reason}"
    if path.stat().st_size > MAX_SETTINGS_BYTES:
        return f"the settings file {path} is {path.stat().st_size:,} bytes, far more than this app writes"
    return None


class Settings:
    def __init__(self, qsettings: QSettings | None = None):
        self.problem: str | None = None  # said to the user when the settings could not be used
        if qsettings is None:
            path = user_settings_path()
            self.problem = settings_problem(path)
            if self.problem:
                self.problem += ": starting with default settings, which are not saved this session"
                scratch = Path(tempfile.mkdtemp(prefix="vit-gui-settings-"))
                atexit.register(shutil.rmtree, scratch, True)  # not saved this session: nothing left behind
                qsettings = QSettings(str(scratch / "vit-gui.ini"), QSettings.Format.IniFormat)
            else:
                qsettings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "vit-gui", "vit-gui")
        self.q = qsettings

    def _get(self, key, default, kind):
        try:
            value = self.q.value(key, default)
        except Exception:  # noqa: BLE001 - an unreadable value is as good as none
            return default
        if value is None:
            return default
        try:
            if kind is bool:
                return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
            if kind is list:
                if isinstance(value, str):
                    return [value] if value else []
                return [str(v) for v in value] if isinstance(value, (list, tuple)) else default
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _bounded(self, key, default, kind, low, high):
        value = self._get(key, default, kind)
        return value if low <= value <= high else default

    # ---- the app's settings ----------------------------------------------------------------
    def text(self, key: str, default: str = "") -> str:
        return self._get(key, default, str)

    def set(self, key: str, value) -> None:
        self.q.setValue(key, value)

    @property
    def top_k(self) -> int:
        return self._bounded("top_k", 5, int, 1, 20)

    @property
    def opacity(self) -> float:
        return self._bounded("opacity", 0.5, float, 0.0, 1.0)

    @property
    def discard_ratio(self) -> float:
        return self._bounded("discard_ratio", 0.0, float, 0.0, 0.95)

    @property
    def fusion(self) -> str:
        value = self.text("fusion", "mean")
        return value if value in ("mean", "max", "min") else "mean"

    def paths(self, key: str) -> list[str]:
        """A remembered list of paths, capped: a hand-edited list of millions stays harmless."""
        return self._get(key, [], list)[:MAX_RECENT]

    def add_recent(self, key: str, path: str) -> list[str]:
        recent = [path] + [p for p in self.paths(key) if p != path]
        self.set(key, recent[:MAX_RECENT])
        return recent[:MAX_RECENT]

    def geometry(self) -> QByteArray | None:
        value = self.q.value("window_geometry")
        return value if isinstance(value, QByteArray) else None

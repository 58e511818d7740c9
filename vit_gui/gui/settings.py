"""Typed access to QSettings that survives missing, stale or corrupt values.

A value of the wrong type (hand-edited or corrupt settings file) falls back to the
default instead of stopping the app from starting.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


class Settings:
    def __init__(self, qsettings: QSettings | None = None):
        self.q = qsettings or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "vit-gui", "vit-gui")

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
        return self._get(key, [], list)

    def add_recent(self, key: str, path: str) -> list[str]:
        recent = [path] + [p for p in self.paths(key) if p != path]
        self.set(key, recent[:MAX_RECENT])
        return recent[:MAX_RECENT]

    def geometry(self) -> QByteArray | None:
        value = self.q.value("window_geometry")
        return value if isinstance(value, QByteArray) else None

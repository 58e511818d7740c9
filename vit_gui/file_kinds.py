"""Open nothing that is not a regular file: a named pipe blocks a reader for ever, a device
never ends. Every file the app reads from a user or a model (images, checkpoints, sidecars,
labels, settings) is checked here first, and the message says what it is instead.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular_reason(path: Path | str) -> str | None:
    """None for a regular file (following symlinks), else what the path is, in words."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file (mistyped, moved or deleted?)" if not os.path.lexists(path) else "a broken link"
    except PermissionError:
        return "not readable (permission denied)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link that points to itself (a symlink loop)"
        if exc.errno == errno.ENAMETOOLONG:
            return "a path too long for this system"
        return f"not readable ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in KINDS if test(mode)), "not a regular file")


def require_regular_file(path: Path | str, error: type[Exception], what: str = "") -> None:
    """Raise `error` saying what the path is when it is not a regular file."""
    reason = not_regular_reason(path)
    if reason is not None:
        name = Path(path).name or str(path)
        raise error(f"{what + ' ' if what else ''}{name} is {reason}" if reason.startswith("a ")
                    else f"{what + ' ' if what else ''}{name}: {reason}")

"""What every command shares: exit codes, messages on stderr, places results go."""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXIT_OK, EXIT_SOME_FAILED, EXIT_CANNOT_RUN = 0, 1, 2
EXIT_INTERRUPTED = 130  # as a shell reports a program ended by Ctrl+C


def say(message: str) -> None:
    """Progress and diagnostics go to stderr, which a windowed frozen app may not have.
    Control characters from file names and labels are written out, never sent raw to the
    terminal (an escape sequence could rewrite what the user sees)."""
    if sys.stderr is not None:
        from vit_gui.results_csv import printable

        print(f"vit-gui: {printable(message)}", file=sys.stderr, flush=True)


def writable_folder(folder: Path, what: str) -> None:
    """Create `folder` if needed; ValueError saying why results could not be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        from vit_gui.file_kinds import not_regular_reason

        kind = not_regular_reason(folder) or "a file"
        raise ValueError(f"{what} {folder} is {kind}, not a folder") from None
    except OSError as exc:
        raise ValueError(f"{what} {folder} cannot be created ({exc.strerror or exc})") from None
    if not folder.is_dir():
        raise ValueError(f"{what} {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {folder} is not writable (permission denied)")



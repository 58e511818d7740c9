"""Where `vit-gui classify` puts its results: -o or stdout, as JSON or CSV.

Nothing finished is lost: results are kept as they come, and written when the run ends,
however it ends (done, Ctrl+C, SIGTERM, an error). -o is written atomically (a crash never
leaves half a file), through a symlink to its target, and straight into a pipe or
/dev/null; it may never be one of the photos being classified.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from vit_gui.cli.common import say


def refuse_input_as_output(output: Path | None, inputs: list[Path], model: Path | None = None) -> None:
    """ValueError when -o names one of the photos (or the model): writing there would destroy
    it. Compared by file identity, so a link or another spelling of the same file counts."""
    if output is None:
        return
    try:
        target = os.stat(output)
    except OSError:
        return  # not there yet: it cannot be an input
    for path in [*inputs, *([model] if model else [])]:
        try:
            same = os.path.samestat(target, os.stat(path))
        except OSError:
            continue
        if same:
            what = "the model" if path == model else "one of the photos being classified"
            raise ValueError(f"-o {output} is {what} ({path}); writing the results there would destroy it: "
                             "name another file")


class ResultsOutput:
    """Collects finished records and writes them once, at the end."""

    def __init__(self, path: Path | None, fmt: str):
        self.path, self.format = path, fmt
        self.records: list = []

    def add(self, record) -> None:
        self.records.append(record)

    def text(self) -> str:
        if self.format == "json":
            from vit_gui.record import json_safe

            rows = [json_safe(r.to_json()) for r in self.records]
            return json.dumps(rows, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        from vit_gui.results_csv import results_csv

        return results_csv(self.records)

    def finish(self) -> bool:
        """Write everything; if -o cannot be written (a full disk) the results still reach
        stdout, and False says so. A second Ctrl+C while writing is held off."""
        with _uninterruptible():
            return self._write(self.text())

    def _write(self, text: str) -> bool:
        written = True
        if self.path:
            from vit_gui.fileio import write_output_bytes

            try:
                write_output_bytes(self.path, text.encode("utf-8"))
                return True
            except OSError as exc:
                say(f"error: could not write {self.path} ({exc.strerror or exc}); the results follow on stdout")
                written = False
        if sys.stdout is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
        return written


class _uninterruptible:
    """SIGINT ignored for the duration (main thread only; elsewhere a no-op)."""

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread
            self.previous = None
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


class sigterm_as_interrupt:
    """SIGTERM (a batch system's stop, `kill`) ends the run as Ctrl+C does: what finished
    is written. Main thread only; elsewhere a no-op."""

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
        except ValueError:
            self.previous = None
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False

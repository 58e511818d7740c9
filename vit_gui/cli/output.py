"""Where `vit-gui classify` puts its results: -o or stdout, as JSON, JSON Lines or CSV.

Nothing finished is lost. A JSON list is kept as results come and written when the run
ends, however it ends (done, Ctrl+C, SIGTERM, an error), atomically to -o (a crash never
leaves half a file). JSON Lines and CSV stream: each image's lines are written as it
finishes, so memory stays flat however many photos, and --resume continues a file a killed
run left. -o follows a symlink to its target and writes straight into a pipe or /dev/null;
it may never be one of the photos being classified.
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
    """Where finished records go; counts what went wrong for the exit code."""

    def __init__(self, path: Path | None):
        self.path = path
        self.count = self.failed = self.unmapped = self.unchecked = 0

    def add(self, record) -> None:
        self.count += 1
        self.failed += record.error is not None
        self.unmapped += bool(record.maps and "error" in record.maps)
        self.unchecked += any(part and "error" in part for part in (record.faithfulness, record.sanity))
        self._emit(record)

    def _emit(self, record) -> None:
        raise NotImplementedError

    def finish(self) -> bool:
        """True when every result reached where it should."""
        raise NotImplementedError


class WholeJson(ResultsOutput):
    """A JSON list: kept whole in memory, written once at the end (atomically to -o)."""

    def __init__(self, path: Path | None):
        super().__init__(path)
        self.records: list = []

    def _emit(self, record) -> None:
        self.records.append(record)

    def finish(self) -> bool:
        """If -o cannot be written (a full disk) the results still reach stdout, and False
        says so. A second Ctrl+C while writing is held off."""
        from vit_gui.record import json_safe

        text = json.dumps([json_safe(r.to_json()) for r in self.records], indent=2, ensure_ascii=False,
                          allow_nan=False) + "\n"
        with _uninterruptible():
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


class Streamed(ResultsOutput):
    """JSON Lines or CSV, a record at a time as it finishes, so memory stays flat for a
    folder of any size: each image's lines go out in one write, flushed. A killed run leaves
    its finished lines (and at most one cut-off line, which --resume removes)."""

    def __init__(self, path: Path | None, fmt: str, with_check: bool, resume: bool = False):
        super().__init__(path)
        self.format, self.with_check = fmt, with_check
        self.done: set[str] = set()
        self.fd = None
        self.failed_write = False
        if path is not None:
            target = Path(os.path.realpath(path)) if os.path.islink(path) else path
            fresh = not (resume and target.is_file() and target.stat().st_size)
            if not fresh:
                self.done = finished_paths(target, fmt)
            self.fd = os.open(target, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if not fresh else os.O_TRUNC), 0o666)
            if fresh and fmt == "csv":
                self._out(self._csv([self._columns()]))
        elif fmt == "csv" and sys.stdout is not None:
            self._out(self._csv([self._columns()]))

    def _columns(self) -> list[str]:
        from vit_gui.results_csv import csv_columns

        return csv_columns(self.with_check)

    @staticmethod
    def _csv(rows) -> str:
        from vit_gui.results_csv import csv_text

        return csv_text(rows)

    def _emit(self, record) -> None:
        if self.format == "jsonl":
            from vit_gui.record import json_safe

            text = json.dumps(json_safe(record.to_json()), ensure_ascii=False, allow_nan=False) + "\n"
        else:
            from vit_gui.results_csv import csv_rows

            text = self._csv(csv_rows(record, self.with_check))
        self._out(text)

    def _out(self, text: str) -> None:
        if self.fd is None:
            if sys.stdout is not None:
                sys.stdout.write(text)
                sys.stdout.flush()
            return
        if self.failed_write:
            return
        data = text.encode("utf-8")
        try:
            while data:  # one write for one image's lines, repeated only if the system took part of it
                data = data[os.write(self.fd, data):]
        except OSError as exc:
            self.failed_write = True
            say(f"error: could not write {self.path} ({exc.strerror or exc}); the results after this one are lost "
                "for it: run again with --resume once there is room")

    def finish(self) -> bool:
        if self.fd is not None:
            os.close(self.fd)
        return not self.failed_write


def finished_paths(path: Path, fmt: str) -> set[str]:
    """The photos a results file already holds (for --resume); a last line cut off by a kill
    is removed from the file first, so it is done again."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as stream:
            stream.truncate(end)
        data = data[:end]
    text = data.decode("utf-8", errors="replace")
    if fmt == "jsonl":
        done = set()
        for line in text.splitlines():
            try:
                done.add(json.loads(line)["path"])
            except (ValueError, KeyError, TypeError):
                continue
        return done
    import csv
    import io

    from vit_gui.results_csv import unsafe_cell

    return {unsafe_cell(row["path"]) for row in csv.DictReader(io.StringIO(text)) if row.get("path")}


def open_output(args) -> ResultsOutput:
    """The output for the parsed options (run_classify has refused --resume without -o or with JSON)."""
    if args.format == "json":
        return WholeJson(args.output)
    return Streamed(args.output, args.format, args.faithfulness, args.resume)


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

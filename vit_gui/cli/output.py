"""Where `vit-gui classify` puts its results: -o or stdout, as JSON, JSON Lines or CSV.

Nothing finished is lost. A JSON list is kept as results come and written when the run
ends, however it ends (done, Ctrl+C, SIGTERM, an error), atomically to -o (a crash never
leaves half a file). JSON Lines and CSV stream: each image's lines are written as it
finishes, so memory stays flat however many photos, and --resume continues a file a killed
run left. -o follows a symlink to its target and writes straight into a pipe or /dev/null.

A file already at -o (results of an earlier run, or a file named with --force) is replaced
only by a complete run: until then the new lines go to a hidden file beside it, and a run
that is interrupted leaves the old file as it was and its own results beside it
(NAME.partial.EXT). Which files -o may name at all is results_file's concern.
"""

from __future__ import annotations

import itertools
import os
import stat
import sys
import tempfile
from pathlib import Path

from vit_gui.cli.common import say
from vit_gui.cli.signals import uninterruptible


class OutputFailed(Exception):
    """-o could not take more (a full disk): the run stops, what was written is kept."""


def hold_lock(path: Path) -> int | None:
    """An exclusive lock on the results file for this run (released when the process ends):
    a second run resuming or replacing the same file is refused instead of losing lines
    (None where the system has no flock: Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ValueError(f"{path} is being written by another vit-gui run: wait until it ends, or name "
                         "another -o file") from None
    return fd


class Place:
    """Where the results file goes and how: straight into -o (a new or empty file, a pipe,
    a file being resumed), or, when -o already holds a file, into a hidden part file that
    replaces it once the run is complete. `run` (what the results are made with) is written
    beside a results file as NAME.run.json."""

    def __init__(self, path: Path, run: dict | None, append: bool = False):
        self.path, self.run, self.append = path, run, append
        from vit_gui.fileio import link_target

        self.target = link_target(path)
        try:
            st = os.stat(self.target)
        except OSError:
            st = None
        self.through = st is not None and not stat.S_ISREG(st.st_mode)  # a pipe, /dev/null: written through
        self.replacing = not append and st is not None and stat.S_ISREG(st.st_mode) and st.st_size > 0
        self.part: Path | None = None
        self.existed, self.lock = st is not None, None  # an existing file is locked by run_classify

    def open(self) -> int:
        """A file descriptor to write the lines to (streamed formats)."""
        if self.replacing:
            fd, part = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".part", dir=self.target.parent)
            self.part = Path(part)
            return fd
        fd = os.open(self.target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        if not self.existed:
            self.lock = hold_lock(self.target)  # a new file: locked as soon as it exists
        if not self.through and not self.append:
            os.ftruncate(fd, 0)  # empty (or made just now): nothing lost
        self._record(self.target)
        return fd

    def _record(self, results: Path) -> None:
        """Write the run's record; a resumed file keeps its own (the same run, and the
        folder its relative paths are read from)."""
        from vit_gui.cli.run_record import record_path

        if self.append and record_path(results).exists():
            return
        if self.run is not None and not self.through:
            from vit_gui.cli.run_record import write_record

            write_record(results, self.run)

    def close(self, complete: bool) -> Path | None:
        """Put a part file in its place: over -o when the run is complete, else beside it
        (-o kept as it was). Returns where the results went when that is not -o."""
        if self.part is None:
            return None
        from vit_gui.fileio import settle

        try:
            settle(self.part, like=self.target)
        except OSError as exc:
            say(f"error: could not put the results in place of {self.path} ({exc.strerror or exc})")
            complete = False
        if complete:
            os.replace(self.part, self.target)
        where = self.target if complete else self._beside(self.part)
        try:
            self._record(where)
        except OSError:
            pass  # a full disk: the results are whole; only their record is missing
        return None if complete else where

    def _beside(self, part: Path) -> Path:
        """Give a finished part file the first free name NAME.partial.EXT, NAME.partial-2.EXT, …
        beside -o, claimed atomically (a file that appears meanwhile is never replaced; a
        rename or a link needs no room on a full disk)."""
        from vit_gui.fileio import claim_name

        first = self.target.with_name(f"{self.target.stem}.partial{self.target.suffix}")
        for n in itertools.count(1):
            name = first if n == 1 else first.with_name(f"{first.stem}-{n}{first.suffix}")
            if claim_name(part, name):
                part.unlink(missing_ok=True)  # claimed by a link: the part's own name goes
                return name

    def write_whole(self, data: bytes, complete: bool) -> Path | None:
        """A whole file at once (JSON): over -o, unless the run is incomplete and -o holds
        an earlier file, which is then kept and the results go beside it (returned)."""
        from vit_gui.fileio import settle, write_output_bytes

        if self.through or not self.replacing or complete:
            write_output_bytes(self.path, data)
            if not self.through:
                self._record(self.target)
            return None
        fd, part = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".part", dir=self.target.parent)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        settle(Path(part), like=self.target)
        kept = self._beside(Path(part))
        self._record(kept)
        return kept


class ResultsOutput:
    """Where finished records go; counts what went wrong for the exit code."""

    def __init__(self, place: Place | None):
        self.place = place
        self.path = place.path if place else None
        self.count = self.failed = self.unmapped = self.unchecked = 0

    def add(self, record) -> None:
        self.count += 1
        self.failed += record.error is not None
        self.unmapped += bool(record.maps and "error" in record.maps)
        self.unchecked += any(part and "error" in part for part in (record.faithfulness, record.sanity))
        self._emit(record)

    def _emit(self, record) -> None:
        raise NotImplementedError

    def finish(self, complete: bool = True) -> bool:
        """True when every result reached where it should. An incomplete run (interrupted,
        or ended by an error) never replaces a file that was at -o."""
        raise NotImplementedError

    def _said_kept(self, kept: Path | None) -> None:
        if kept is not None:
            say(f"{self.path} is kept as it was (the run did not finish); the {self.count} results that finished "
                f"are in {kept}")


class WholeJson(ResultsOutput):
    """A JSON list: kept whole in memory, written once at the end (atomically to -o)."""

    def __init__(self, place: Place | None):
        super().__init__(place)
        self.records: list = []

    def _emit(self, record) -> None:
        self.records.append(record)

    def finish(self, complete: bool = True) -> bool:
        """If -o cannot be written (a full disk) the results still reach stdout, and False
        says so. A second Ctrl+C while writing is held off."""
        from vit_gui.record import json_text

        text = json_text([r.to_json() for r in self.records], indent=2) + "\n"
        with uninterruptible():
            written = True
            if self.place:
                try:
                    self._said_kept(self.place.write_whole(text.encode("utf-8"), complete))
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

    def __init__(self, place: Place | None, fmt: str, columns: list[str]):
        super().__init__(place)
        self.format, self.columns = fmt, columns
        self.fd = place.open() if place else None
        self.failed_write = False
        if fmt == "csv" and not (place and place.append):
            from vit_gui.results_csv import csv_text

            self._out(csv_text([columns]))

    def _emit(self, record) -> None:
        if self.format == "jsonl":
            from vit_gui.record import json_text

            text = json_text(record.to_json()) + "\n"
        else:
            from vit_gui.results_csv import csv_rows, csv_text

            text = csv_text(csv_rows(record, self.columns))
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
        end = os.lseek(self.fd, 0, os.SEEK_END)
        try:
            while data:  # one write for one image's lines, repeated only if the system took part of it
                data = data[os.write(self.fd, data):]
        except OSError as exc:
            self.failed_write = True
            try:
                os.ftruncate(self.fd, end)  # no photo is left with only some of its lines
            except OSError:
                pass
            said = (f"error: could not write {self.path} ({exc.strerror or exc}): stopped; the photos written before "
                    "this one are kept")
            say(said + ("" if self.place.part else ". Once there is room, run the same command with --resume "
                        "to add the rest"))
            raise OutputFailed from None

    def finish(self, complete: bool = True) -> bool:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            if self.place.lock is not None:
                os.close(self.place.lock)
            with uninterruptible():
                self._said_kept(self.place.close(complete and not self.failed_write))
        return not self.failed_write


def open_output(args, run: dict | None, columns: list[str], resuming: bool = False) -> ResultsOutput:
    """The output for the parsed options (run_classify has checked -o and --resume);
    `resuming`: -o holds results to add to."""
    place = Place(args.output, run, append=resuming) if args.output is not None else None
    if args.format == "json":
        return WholeJson(place)
    return Streamed(place, args.format, columns)

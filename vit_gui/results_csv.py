"""The results table the CLI prints and the app exports: one row per top class, or one
row with the error for an image that has none; the note column says what else is worth
knowing (a backbone's missing classes, a turned or first-frame image).

The columns follow what was asked: the check's figures (--faithfulness), the sanity tests'
(--sanity) and the overlay written (--maps) each add theirs. A check is of one class's map,
so its figures stand on that class's row only."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable

from vit_gui.record import ImageRecord

COLUMNS = ["path", "rank", "label", "index", "prob", "error", "note"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FAITHFULNESS_COLUMNS = ["protocol", "measure", "deletion_auc", "insertion_auc", "statistic", "p_value", "copies_beaten",
                        "copies_compared", "random_auc", "random_auc_std", "saco", "verdict"]
CHECK_ERROR = "check_error"  # why an image's map could not be checked
SANITY_COLUMNS = ["randomised_correlation", "depends_on_weights", "shift_correlation", "shift_top_tenth_kept",
                  "stable", "sanity_error"]
OVERLAY = "overlay"  # the overlay picture written for the image (--maps), or why none was
#: categories written out as escapes in a cell: controls (terminal escape sequences), lone
#: surrogates (bytes of a file name that are not UTF-8) and line or paragraph separators
ESCAPED_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")
ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def printable(text: str) -> str:
    """Control characters (terminal escape sequences) written out as \\xNN; for a terminal,
    where any unprintable character is suspect."""
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in str(text))


def _escaped(ch: str) -> str:
    return ch.encode("unicode_escape").decode("ascii")


def cell_text(text: str) -> str:
    """A name as a spreadsheet should show it: only what could harm or cannot be stored is
    written out as an escape (\\xNN, \\uNNNN, \\UNNNNNNNN; see ESCAPED_CATEGORIES). A narrow
    no-break space in a macOS screenshot's name stays itself, so the CSV holds the real name.
    A backslash is doubled only where it would read as the start of an escape (C:\\photos
    stays as it is), so unsafe_cell() gives every name back exactly."""
    text = str(text)
    out = []
    for i, ch in enumerate(text):
        following = text[i + 1] if i + 1 < len(text) else ""
        if _needs_escape(ch):
            out.append(_code(ch))
        elif ch == "\\" and following and (following in "xuU\\" or _needs_escape(following)):
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def _needs_escape(ch: str) -> bool:
    return unicodedata.category(ch) in ESCAPED_CATEGORIES


def _code(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def safe_cell(text: str) -> str:
    """Text from file names and models, made harmless: controls written out, and a leading
    = + - @ neutralised with an apostrophe so a spreadsheet shows it instead of running it
    as a formula."""
    text = cell_text(text)
    return "'" + text if _formula_like(text) else text


def _formula_like(text: str) -> bool:
    """A formula start, after any apostrophes (so the guard is added, and taken off, exactly)."""
    return text.lstrip("'").startswith(FORMULA_STARTS)


def unsafe_cell(text: str) -> str:
    """The text safe_cell() wrote, back (for reading our own CSV): the formula guard removed
    and the escapes turned back into the characters they stand for (a file name that is not
    UTF-8 gets its own bytes back)."""
    text = text[1:] if text.startswith("'") and _formula_like(text[1:]) else text
    if "\\" not in text:
        return text
    return ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), text)


def results_csv(records: Iterable[ImageRecord]) -> str:
    """The columns follow what the records hold (a check, sanity tests, overlays)."""
    records = list(records)
    columns = csv_columns(any(r.faithfulness for r in records), any(r.sanity for r in records),
                          any(r.maps and ("overlay" in r.maps or "error" in r.maps) for r in records))
    return csv_text([columns] + [row for r in records for row in csv_rows(r, columns)])


def csv_columns(with_check: bool, with_sanity: bool = False, with_maps: bool = False) -> list[str]:
    return (COLUMNS + (FAITHFULNESS_COLUMNS + [CHECK_ERROR] if with_check else [])
            + (SANITY_COLUMNS if with_sanity else []) + ([OVERLAY] if with_maps else []))


def csv_rows(record: ImageRecord, columns: list[str]) -> list[list]:
    """One image's rows: one per top class, or one with its error (or why it has no class).
    The check's and the sanity tests' figures stand on the row of the class whose map was
    checked (the top class when the map is not a class's), empty on the others."""
    extra = columns[len(COLUMNS):]
    figures = [_figure(record, column) for column in extra]
    blank = [figures[i] if column == OVERLAY else "" for i, column in enumerate(extra)]
    note = safe_cell("; ".join(record.all_notes))  # e.g. why a backbone's row has no class
    if record.error or not record.top:
        why = record.error or ("" if record.is_backbone_result else "not classified yet")
        return [[safe_cell(record.path), "", "", "", "", safe_cell(why), note] + figures]
    checked = _checked_class(record)
    return [[safe_cell(record.path), rank, safe_cell(top.label), top.index, f"{top.prob:.6f}", "", note]
            + (figures if top.index == checked else blank)
            for rank, top in enumerate(record.top, 1)]


def _checked_class(record: ImageRecord) -> int:
    """The class whose map the check and the sanity tests judged: the one the check names,
    else the top class."""
    named = (record.faithfulness or {}).get("class_index")
    return named if isinstance(named, int) else record.top[0].index


def csv_text(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _figure(record: ImageRecord, column: str):
    """A figure for its column ('' where there is none: not asked, or it failed)."""
    if column == OVERLAY:
        maps = record.maps or {}
        return safe_cell(maps.get("overlay") or maps.get("error") or "")
    if column in SANITY_COLUMNS:
        return _sanity_figure(record.sanity, column)
    faithfulness = record.faithfulness
    if not faithfulness:
        return ""
    if column == CHECK_ERROR:
        return safe_cell(faithfulness.get("error", ""))
    return _plain(faithfulness.get(column))


def _sanity_figure(sanity: dict | None, column: str):
    if not sanity:
        return ""
    if column == "sanity_error":
        return safe_cell(sanity.get("error", ""))
    randomisation, stability = sanity.get("randomisation") or {}, sanity.get("stability") or {}
    if column == "randomised_correlation":
        steps = randomisation.get("scrambled") or []
        return _plain(steps[-1].get("rank_correlation")) if steps else ""
    if column == "depends_on_weights":
        return _plain(randomisation.get("depends_on_weights"))
    if column == "stable":
        return _plain(stability.get("stable"))
    key = "rank_correlation" if column == "shift_correlation" else "top_tenth_kept"
    values = [shift.get(key) for shift in stability.get("shifts") or [] if isinstance(shift.get(key), (int, float))]
    return round(sum(values) / len(values), 6) if values else ""


def _plain(value):
    if isinstance(value, str):
        return safe_cell(value)
    return "" if value is None or value != value else value

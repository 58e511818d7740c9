"""The results table the CLI prints and the app exports: one row per top class, or one
row with the error for an image that has none; the note column says what else is worth
knowing (a backbone's missing classes, a turned or first-frame image)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from vit_gui.record import ImageRecord

COLUMNS = ["path", "rank", "label", "index", "prob", "error", "note"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """Control characters (terminal escape sequences) written out as \\xNN."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))


def safe_cell(text: str) -> str:
    """Text from file names and models, made harmless: control characters written out, and a
    leading = + - @ neutralised with an apostrophe so a spreadsheet shows it instead of
    running it as a formula."""
    text = printable(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


FAITHFULNESS_COLUMNS = ["protocol", "deletion_auc", "insertion_auc", "random_auc", "random_auc_std", "saco", "verdict"]
CHECK_ERROR = "check_error"  # why an image's map could not be checked


def results_csv(records: Iterable[ImageRecord]) -> str:
    """With faithfulness figures on any record, more columns (the same on each of an
    image's rows)."""
    records = list(records)
    with_check = any(r.faithfulness for r in records)
    return csv_text([csv_columns(with_check)] + [row for r in records for row in csv_rows(r, with_check)])


def csv_columns(with_check: bool) -> list[str]:
    return COLUMNS + _check_columns(with_check)


def _check_columns(with_check: bool) -> list[str]:
    return FAITHFULNESS_COLUMNS + [CHECK_ERROR] if with_check else []


def csv_rows(record: ImageRecord, with_check: bool) -> list[list]:
    """One image's rows: one per top class, or one with its error (or why it has no class)."""
    figures = [_figure(record.faithfulness, column) for column in _check_columns(with_check)]
    note = safe_cell("; ".join(record.all_notes))  # e.g. why a backbone's row has no class
    if record.error or not record.top:
        why = record.error or ("" if record.is_backbone_result else "not classified yet")
        return [[safe_cell(record.path), "", "", "", "", safe_cell(why), note] + figures]
    return [[safe_cell(record.path), rank, safe_cell(top.label), top.index, f"{top.prob:.6f}", "", note] + figures
            for rank, top in enumerate(record.top, 1)]


def csv_text(rows: list[list]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def unsafe_cell(text: str) -> str:
    """The text safe_cell() wrote, back (for reading our own CSV): the formula guard removed."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _figure(faithfulness: dict | None, column: str):
    """A check's figure for its column ('' where there is none: no check, or it failed)."""
    if not faithfulness:
        return ""
    if column == CHECK_ERROR:
        return safe_cell(faithfulness.get("error", ""))
    value = faithfulness.get(column)
    if isinstance(value, str):
        return safe_cell(value)
    return "" if value is None or value != value else value

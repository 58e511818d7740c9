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
    extra = FAITHFULNESS_COLUMNS + [CHECK_ERROR] if any(r.faithfulness for r in records) else []
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS + extra)
    for record in records:
        figures = [_figure(record.faithfulness, column) for column in extra]
        note = safe_cell("; ".join(record.to_json()["notes"]))  # e.g. why a backbone's row has no class
        if record.error or not record.top:
            why = record.error or ("" if record.is_backbone_result else "not classified yet")
            writer.writerow([safe_cell(record.path), "", "", "", "", safe_cell(why), note] + figures)
            continue
        for rank, top in enumerate(record.top, 1):
            writer.writerow([safe_cell(record.path), rank, safe_cell(top.label), top.index, f"{top.prob:.6f}", "", note]
                            + figures)
    return buffer.getvalue()


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

"""The results table the CLI prints and the app exports: one row per top class, or one
row with the error (or why there are no classes) for an image that has none."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from vit_gui.record import ImageRecord

COLUMNS = ["path", "rank", "label", "index", "prob", "error"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Text from file names and models, made harmless: control characters (terminal escape
    sequences) written out as \\xNN, and a leading = + - @ neutralised with an apostrophe
    so a spreadsheet shows it instead of running it as a formula."""
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def results_csv(records: Iterable[ImageRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records:
        if record.error or not record.top:
            why = record.error or ("" if record.is_backbone_result else "not classified yet")
            writer.writerow([safe_cell(record.path), "", "", "", "", safe_cell(why)])
            continue
        for rank, top in enumerate(record.top, 1):
            writer.writerow([safe_cell(record.path), rank, safe_cell(top.label), top.index, f"{top.prob:.6f}", ""])
    return buffer.getvalue()

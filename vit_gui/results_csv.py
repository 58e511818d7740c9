"""The results table the CLI prints and the app exports: one row per top class, or one
row with the error for an image that has no classes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

COLUMNS = ["path", "rank", "label", "index", "prob", "error"]


def results_csv(rows: Iterable[tuple[str, list, str | None]]) -> str:
    """rows: (path, top classes as (label, index, prob), error) per image -> CSV text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for path, top, error in rows:
        if error or not top:
            writer.writerow([path, "", "", "", "", error or ""])
            continue
        for rank, (label, index, prob) in enumerate(top, 1):
            writer.writerow([path, rank, label, index, f"{prob:.6f}", ""])
    return buffer.getvalue()

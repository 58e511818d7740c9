"""Plots as PNG bytes: matplotlib's Agg renderer on a bare Figure, no Qt and no pyplot, so
any thread can draw them and the window only shows the picture."""

from __future__ import annotations

import io


def figure_png(draw, size: tuple[float, float] = (4.2, 3.0), dpi: int = 100) -> bytes:
    """The figure `draw(figure)` fills, as PNG bytes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    draw(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plain(text: str) -> str:
    """User-supplied text (a class name, a file name) for a plot: matplotlib reads text
    between two dollar signs as maths ("$x^$" is a syntax error that breaks the drawing);
    each escaped dollar is drawn as a dollar, whatever the text holds."""
    return str(text).replace("$", r"\$")

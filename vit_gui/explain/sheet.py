"""Many small maps on one labelled picture: every block, every head of a block, or the
atlas of every block by every head.

One picture rather than a widget per map: 144 tiles of a ViT-B draw, zoom and export as
one image, and a click is found from the cell boxes. Pure PIL, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

GAP = 4
BACKGROUND = (245, 245, 245)


@dataclass(frozen=True)
class Sheet:
    image: Image.Image
    cells: tuple[tuple[int, int, int, int], ...]  # (left, top, right, bottom) of each tile, in order

    def cell_at(self, x: float, y: float) -> int | None:
        """The tile under a point of the sheet image, or None (a label, a gap)."""
        for index, (left, top, right, bottom) in enumerate(self.cells):
            if left <= x < right and top <= y < bottom:
                return index
        return None


def fit_columns(count: int, aspect: float, width: int, height: int, label: int = 24) -> tuple[int, int]:
    """(columns, tile width) that make `count` tiles of this aspect (w/h), each with a
    label line under it, largest inside a width x height box."""
    best = (1, 0)
    for columns in range(1, count + 1):
        rows = -(-count // columns)
        side = int(min(width / columns - GAP, (height / rows - label - GAP) * aspect))
        if side >= best[1]:  # a tie: more columns, the wider and shorter sheet
            best = (columns, side)
    return best


def _font(size: int):
    return ImageFont.load_default(size=max(9, size))


def tile_sheet(tiles: list[Image.Image], labels: list[str], columns: int) -> Sheet:
    """Tiles in rows of `columns`, each with its label underneath."""
    width, height = tiles[0].size
    font = _font(max(11, min(18, width // 10)))
    text = font.size + GAP
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (width + GAP) + GAP, rows * (height + text + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    cells = []
    for index, (tile, label) in enumerate(zip(tiles, labels)):
        left = GAP + (index % columns) * (width + GAP)
        top = GAP + (index // columns) * (height + text + GAP)
        sheet.paste(tile, (left, top))
        draw.text((left + width / 2, top + height + 1), label, fill="black", font=font, anchor="ma")
        cells.append((left, top, left + width, top + height))
    return Sheet(sheet, tuple(cells))


def atlas_sheet(tiles: list[list[Image.Image]], row_label: str = "block", column_label: str = "head") -> Sheet:
    """tiles[row][column] (blocks by heads) with the row numbers down the left and the
    column numbers across the top; cells in row-major order."""
    width, height = tiles[0][0].size
    font = _font(max(11, min(18, width // 6)))
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    margin_left = int(probe.textlength(f"{row_label} {len(tiles)}", font=font)) + 2 * GAP
    margin_top = font.size + 2 * GAP
    columns = max(len(row) for row in tiles)
    sheet = Image.new("RGB", (margin_left + columns * (width + GAP), margin_top + len(tiles) * (height + GAP)),
                      BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for column in range(columns):
        draw.text((margin_left + column * (width + GAP) + width / 2, GAP), f"{column_label} {column + 1}"
                  if width >= 3 * font.size else str(column + 1), fill="black", font=font, anchor="ma")
    cells = []
    for row, row_tiles in enumerate(tiles):
        top = margin_top + row * (height + GAP)
        draw.text((GAP, top + height / 2), f"{row_label} {row + 1}", fill="black", font=font, anchor="lm")
        for column, tile in enumerate(row_tiles):
            left = margin_left + column * (width + GAP)
            sheet.paste(tile, (left, top))
            cells.append((left, top, left + width, top + height))
    return Sheet(sheet, tuple(cells))

"""Many small maps on one picture: the layout, the labels' room, and finding a clicked tile."""

from PIL import Image

from vit_gui.explain.sheet import atlas_sheet, fit_columns, tile_sheet


def tiles(count, size=(40, 30), colour=(200, 0, 0)):
    return [Image.new("RGB", size, colour) for _ in range(count)]


def test_the_atlas_of_a_vit_b_is_12_blocks_by_12_heads_in_reading_order():
    sheet = atlas_sheet([tiles(12) for _ in range(12)])
    assert len(sheet.cells) == 144
    lefts = sorted({c[0] for c in sheet.cells})
    tops = sorted({c[1] for c in sheet.cells})
    assert len(lefts) == 12 and len(tops) == 12
    for index, (left, top, right, bottom) in enumerate(sheet.cells):
        assert (lefts.index(left), tops.index(top)) == (index % 12, index // 12)  # head across, block down
        assert (right - left, bottom - top) == (40, 30)
        assert sheet.image.getpixel(((left + right) // 2, (top + bottom) // 2)) == (200, 0, 0)
    assert min(lefts) > 40 and min(tops) > 10  # room for "block 12" down the left, "head N" on top


def test_a_click_finds_its_tile_and_a_gap_or_label_finds_none():
    sheet = tile_sheet(tiles(12), [f"block {i + 1}" for i in range(12)], columns=4)
    for index, (left, top, right, bottom) in enumerate(sheet.cells):
        assert sheet.cell_at((left + right) / 2, (top + bottom) / 2) == index
        assert sheet.cell_at(left, top) == index and sheet.cell_at(right, top) != index
    left, top, right, bottom = sheet.cells[0]
    assert sheet.cell_at(left + 5, bottom + 3) is None  # the label under the tile
    assert sheet.cell_at(1, 1) is None


def test_fit_columns_makes_twelve_wide_tiles_as_large_as_the_box_allows():
    columns, side = fit_columns(12, 1.5, 900, 600)
    rows = -(-12 // columns)
    assert columns * side <= 900 and rows * (side / 1.5 + 24) <= 600
    for other in range(1, 13):  # no other column count gives larger tiles
        other_rows = -(-12 // other)
        assert min(900 / other - 4, (600 / other_rows - 24 - 4) * 1.5) <= side + 1

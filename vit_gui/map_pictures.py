"""Pictures made from a map view's state without touching a widget, as functions another
thread can run: the photo and its map fitted to the canvas (zoomed where asked), the tile
sheets (every block, every head of a block, the atlas), and what saving writes."""

from __future__ import annotations

from dataclasses import replace

from vit_gui.map_state import VIEW_ATLAS, VIEW_BLOCKS, VIEW_HEADS, VIEW_SINGLE, MapState

TILE_READING = {
    VIEW_BLOCKS: "Each small map is one layer (block) of the model, its heads combined: from the first layer, "
                 "nearest the pixels, to the last, nearest the answer. Click one to see it large.",
    VIEW_HEADS: "Each small map is one head of this layer: the different ways the layer looks at the photo at "
                "once. Click one to see it large.",
    VIEW_ATLAS: "Every head of every layer: rows are the layers (blocks) from first to last, columns their heads. "
                "Zoom with Ctrl+wheel or the buttons; click a map to see it large.",
}


def overlay_look(state: MapState, geometry=None):
    """(map, image, size) -> overlay with the look chosen now (colours, opacity) through the
    prediction's geometry (or `geometry`): it holds no widget, so another thread can run it."""
    from vit_gui.explain.overlay import overlay

    geometry, s = geometry or state.prediction.geometry, state.settings
    opacity = s.opacity if s.show_overlay else 0.0
    return lambda grid_map, image, size: overlay(image, grid_map, geometry, s.colormap, opacity, size=size)


def fit_size(image_size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """`image_size` scaled to fill `box`, keeping its aspect ratio."""
    scale = min(box[0] / image_size[0], box[1] / image_size[1])
    return max(1, int(image_size[0] * scale)), max(1, int(image_size[1] * scale))


def zoom_window(image_size: tuple[int, int], zoom: float, centre: tuple[float, float]) -> tuple[int, int, int, int]:
    """The part of the photo (left, top, right, bottom pixels) shown at `zoom` around `centre`."""
    width, height = image_size
    half_w, half_h = width / (2 * zoom), height / (2 * zoom)
    cx, cy = centre[0] * width, centre[1] * height
    left, top = round(max(0.0, cx - half_w)), round(max(0.0, cy - half_h))
    return left, top, min(width, max(left + 1, round(cx + half_w))), min(height, max(top + 1, round(cy + half_h)))


def fit_and_cover(state: MapState, canvas: tuple[int, int]):
    """A function map -> (photo fitted to the canvas, the map over it or None), with the look
    and zoom chosen now. Zoomed, the map is drawn on the shown part only, through a geometry
    moved into that part's coordinates (a preprocess.Geometry): exact, and as cheap as the
    whole photo."""
    if state.photo is None:
        return lambda _grid_map: None
    photo, geometry, s = state.photo, state.prediction.geometry, state.settings
    if s.zoom > 1.0:
        window = zoom_window(photo.size, s.zoom, s.centre)
        part = photo.crop(window)
        sx, sy = geometry.image_size[0] / photo.width, geometry.image_size[1] / photo.height
        left, top = window[0] * sx, window[1] * sy  # the part's corner in the model's photo coordinates
        geometry = replace(geometry, image_size=(max(1, round(part.width * sx)), max(1, round(part.height * sy))),
                           box=tuple(v - d for v, d in zip(geometry.box, (left, top, left, top))))
        photo = part
    look, size = overlay_look(state, geometry), fit_size(photo.size, canvas)

    def run(grid_map):
        fitted = photo if size == photo.size else photo.resize(size)
        return fitted, None if grid_map is None else look(grid_map, fitted, fitted.size)

    return run


def tiles_work(state: MapState, width: int, height: int):
    """A function () -> (sheet, caption): every block's, every head's of a block, or every
    block × head's map as one labelled picture sized to fill width × height."""
    from vit_gui.explain import rollout
    from vit_gui.explain.overlay import overlay
    from vit_gui.explain.sheet import atlas_sheet, fit_columns, tile_sheet

    prediction, s = state.prediction, state.settings
    view, fusion, block = s.view, s.fusion, s.block
    colormap, opacity = s.colormap, max(s.opacity, 0.35)
    aspect = state.photo.width / state.photo.height
    count = state.depth if view == VIEW_BLOCKS else state.heads
    if view == VIEW_ATLAS:  # room for the labels, and detail to zoom into
        columns = state.heads
        side = int(min((width - 70) / state.heads - 4, ((height - 24) / state.depth - 4) * aspect))
    else:
        columns, side = fit_columns(count, aspect, width, height)
    side = max(48, min(360, side))
    small = state.photo.resize((side, max(1, round(side / aspect))))

    def tiles(maps):
        return [overlay(small, m, prediction.geometry, colormap, opacity, size=small.size) for m in maps]

    def work():
        attn, grid, prefix, photo = prediction.attentions, prediction.grid, prediction.num_prefix, prediction.photo
        if view == VIEW_ATLAS:
            sheet = atlas_sheet([tiles(rollout.head_maps(attn, grid, b, prefix, photo)) for b in range(len(attn))])
            return sheet, f"every head of every block ({len(attn)} × {len(attn[0])}): click one"
        if view == VIEW_BLOCKS:
            maps = rollout.block_maps(attn, grid, fusion, prefix, photo)
            sheet = tile_sheet(tiles(maps), [f"block {i + 1}" for i in range(len(maps))], columns)
            return sheet, f"every block's attention ({fusion} of heads): click one"
        maps = rollout.head_maps(attn, grid, block, prefix, photo)
        sheet = tile_sheet(tiles(maps), [f"head {i + 1}" for i in range(len(maps))], columns)
        return sheet, f"every head of block {block + 1}: click one"

    return work


def export_name(state: MapState, shown_spec) -> str:
    """The file-name part of what would be saved: the map's slug, or the tile view's."""
    view = state.settings.view
    if view == VIEW_SINGLE:
        return shown_spec.slug if shown_spec is not None else "photo"
    return {VIEW_BLOCKS: "every-block", VIEW_HEADS: f"block{state.settings.block + 1}.every-head",
            VIEW_ATLAS: "atlas"}[view]


def export_recipe(state: MapState, grid_map, sheet, legend: bool):
    """What "Save as PNG" writes, as a function of the full-size original photo (run on the
    export thread): the tiles shown, or the whole photo with its map (never the zoomed part);
    with the colour legend when asked and a map is on it. None when there is nothing to save."""
    from vit_gui.explain.legend import with_legend

    colormap, words = state.settings.colormap, state.legend_text()
    if state.settings.view != VIEW_SINGLE:
        if sheet is None:
            return None
        picture = sheet.image
        return lambda _image: with_legend(picture, colormap, *words) if legend else picture
    if grid_map is None:
        return None
    look, with_map = overlay_look(state), state.settings.show_overlay

    def draw(image):
        out = look(grid_map, image, image.size)
        return with_legend(out, colormap, *words) if legend and with_map else out

    return draw

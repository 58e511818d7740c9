"""The map view's tile views: every block's map, every head's of one block, or the atlas of
every block x head, as one labelled picture sized to the space, computed on the map thread;
a click on a tile shows that map large. A part of AttentionView (mixed in), kept apart by
concern; the map thread's answer comes back through the view's own slot."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtGui import QPixmap

from vit_gui.gui.map_controls import VIEW_ATLAS, VIEW_BLOCKS, VIEW_HEADS, VIEW_SINGLE
from vit_gui.gui.pictures import pil_to_qimage

VIEW_READING = {
    VIEW_BLOCKS: "Each small map is one layer (block) of the model, its heads combined: from the first layer, "
                 "nearest the pixels, to the last, nearest the answer. Click one to see it large.",
    VIEW_HEADS: "Each small map is one head of this layer: the different ways the layer looks at the photo at "
                "once. Click one to see it large.",
    VIEW_ATLAS: "Every head of every layer: rows are the layers (blocks) from first to last, columns their heads. "
                "Zoom with Ctrl+wheel or the buttons; click a map to see it large.",
}


class TilesMixin:
    def _request_tiles(self) -> None:
        """Every block's, every head's of a block, or every block × head's map as one labelled
        picture sized to fill the space, computed on the map thread."""
        from vit_gui.explain import rollout
        from vit_gui.explain.overlay import overlay
        from vit_gui.explain.sheet import atlas_sheet, fit_columns, tile_sheet

        prediction, view = self.prediction, self.view.currentIndex()
        fusion, block = self.controls.fusion_name(), self.block.value() - 1
        colormap, opacity = self.colormap.currentText(), max(self.opacity.value() / 100, 0.35)
        width, height = self.stack.width() - 8, self.stack.height() - 40  # the page below the zoom buttons
        aspect = self.display_image.width / self.display_image.height
        count = self.depth if view == VIEW_BLOCKS else self.heads
        if view == VIEW_ATLAS:  # room for the labels, and detail to zoom into
            columns = self.heads
            side = int(min((width - 70) / self.heads - 4, ((height - 24) / self.depth - 4) * aspect))
        else:
            columns, side = fit_columns(count, aspect, width, height)
        side = max(48, min(360, side))
        small = self.display_image.resize((side, max(1, round(side / aspect))))

        def tiles(maps):
            return [overlay(small, m, prediction.geometry, colormap, opacity, size=small.size) for m in maps]

        def work():
            attn, grid, prefix, photo = prediction.attentions, prediction.grid, prediction.num_prefix, prediction.photo
            if view == VIEW_ATLAS:
                sheet = atlas_sheet([tiles(rollout.head_maps(attn, grid, b, prefix, photo)) for b in range(len(attn))])
                caption = f"every head of every block ({len(attn)} × {len(attn[0])}): click one"
            elif view == VIEW_BLOCKS:
                maps = rollout.block_maps(attn, grid, fusion, prefix, photo)
                sheet = tile_sheet(tiles(maps), [f"block {i + 1}" for i in range(len(maps))], columns)
                caption = f"every block's attention ({fusion} of heads): click one"
            else:
                maps = rollout.head_maps(attn, grid, block, prefix, photo)
                sheet = tile_sheet(tiles(maps), [f"head {i + 1}" for i in range(len(maps))], columns)
                caption = f"every head of block {block + 1}: click one"
            return "tiles", prediction, view, sheet, caption

        self._submit(work)

    def _show_tiles(self, view, sheet, caption) -> None:
        if view != self.view.currentIndex():
            return
        self.stack.setCurrentIndex(1)
        self.caption.setText(caption)
        self.update_legend()
        self.sheet = sheet
        self.sheet_view.set_sheet(sheet, QPixmap.fromImage(pil_to_qimage(sheet.image)))

    def tile_count(self) -> int:
        return len(self.sheet.cells) if self.sheet is not None else 0

    @Slot(int)
    def select_tile(self, index: int) -> None:
        """A tile was clicked: show that block, head of this block, or block × head large."""
        view = self.view.currentIndex()
        for widget in (self.mode, self.block, self.head, self.view):
            widget.blockSignals(True)
        if view == VIEW_ATLAS:
            self.set_method("head")
            self.block.setValue(index // self.heads + 1)
            self.head.setCurrentIndex(index % self.heads)
        elif view == VIEW_HEADS:
            self.set_method("head")
            self.head.setCurrentIndex(index)
        else:
            self.set_method("block")
            self.block.setValue(index + 1)
        self.view.setCurrentIndex(VIEW_SINGLE)
        for widget in (self.mode, self.block, self.head, self.view):
            widget.blockSignals(False)
        self._update_enabled()
        self.render()

"""Pictures made from the map view without touching a widget: the overlay fitted to the
canvas (the map thread makes it) and what saving writes (the overlay at the photo's full
size, or the tiles shown, with the colour legend when asked; the export thread runs it).
A part of AttentionView (mixed in), kept apart by concern."""

from __future__ import annotations

from vit_gui.gui.map_controls import VIEW_ATLAS, VIEW_BLOCKS, VIEW_HEADS, VIEW_SINGLE


class ExportRecipesMixin:
    def overlay_look(self):
        """A function (map, image, size) -> overlay with the look shown now (colours, opacity,
        the photo's geometry): it holds no widget, so another thread can run it."""
        from vit_gui.explain.overlay import overlay

        geometry, colormap = self.prediction.geometry, self.colormap.currentText()
        opacity = self.opacity.value() / 100 if self.show_overlay.isChecked() else 0.0
        return lambda grid_map, image, size: overlay(image, grid_map, geometry, colormap, opacity, size=size)

    def overlay_recipe(self, grid_map=None):
        """A function (image, size) -> overlay with the map (default: the one shown now) and
        the look shown now (a full-size export runs it on the export thread)."""
        grid_map = self.current_map if grid_map is None else grid_map
        look = self.overlay_look()
        return lambda image, size: look(grid_map, image, size)

    def _fit_and_cover(self):
        """A function map -> (photo fitted to the canvas, the map over it, or None without a
        map) holding no widget, with the look shown now: the map thread runs it (and the GUI
        thread when the canvas changed size meanwhile)."""
        if self.display_image is None:
            return lambda _grid_map: None
        display, size, look = self.display_image, self._fit_size(self.display_image), self.overlay_look()

        def run(grid_map):
            photo = display if size == display.size else display.resize(size)
            return photo, None if grid_map is None else look(grid_map, photo, photo.size)

        return run

    def _fit_size(self, image) -> tuple[int, int] | None:
        """The image's size scaled to fill the canvas, keeping its aspect ratio."""
        if image is None:
            return None
        box = self.canvas.size()
        scale = min(box.width() / image.width, box.height() / image.height)
        return max(1, int(image.width * scale)), max(1, int(image.height * scale))

    def export_name(self) -> str:
        """The file-name part of what would be saved: the map's slug, or the tile view's."""
        view = self.view.currentIndex()
        if view == VIEW_SINGLE:
            return self.map_spec_shown.slug if self.map_spec_shown is not None else "photo"
        return {VIEW_BLOCKS: "every-block", VIEW_HEADS: f"block{self.block.value()}.every-head",
                VIEW_ATLAS: "atlas"}[view]

    def export_recipe(self, legend: bool):
        """What "Save as PNG" writes now, as a function of the full-size original image (run
        on the export thread): the tiles shown, or the overlay; with the colour legend when
        asked and a map is on it. None when there is nothing to save."""
        from vit_gui.explain.legend import with_legend

        colormap, words = self.colormap.currentText(), self.legend_text()
        if self.view.currentIndex() != VIEW_SINGLE:
            if self.sheet is None:
                return None
            sheet = self.sheet.image
            return lambda _image: with_legend(sheet, colormap, *words) if legend else sheet
        if self.current_map is None:
            return None
        recipe, with_map = self.overlay_recipe(), self.show_overlay.isChecked()

        def picture(image):
            out = recipe(image, image.size)
            return with_legend(out, colormap, *words) if legend and with_map else out

        return picture


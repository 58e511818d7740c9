"""`vit-gui classify --maps DIR`: each image's map as .npy and as an overlay picture."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: the longest class name kept in a map's file name
NAME_CHARS = 40


def safe_name(label: str) -> str:
    """A class name as a file-name part on every system: letters, digits, '-' and '_' kept
    (any script), the rest one '-', at most NAME_CHARS long."""
    name = re.sub(r"[^\w-]+", "-", label, flags=re.UNICODE).strip("-_")
    return name[:NAME_CHARS].strip("-_")


class MapWriter:
    """Writes each image's map (.npy, patch grid, [0, 1]) and its overlay (.png)."""

    def __init__(self, predictor, args, claimed: set[str] | None = None):
        """`claimed`, when resuming: the map files the results already name. The files of a
        photo done again (its line was cut by a kill) are then its own and reused, not
        doubled as NAME-2."""
        self.predictor, self.claimed = predictor, claimed
        self.folder, self.colormap, self.opacity = args.maps, args.colormap, args.opacity
        self.legend = args.legend
        self.used_stems: set[str] = set()
        self._safe_labels: list[str] | None = None

    def _stem(self, path: Path, slug: str) -> str:
        """`stem`, else `stem-2`, … : never a name this run used, nor one whose files exist
        already (the user's own files are not overwritten, even with --maps in the photos' folder)."""
        stem, n = path.stem, 1
        while stem in self.used_stems or not self._free(self._files(stem, slug)):
            n += 1
            stem = f"{path.stem}-{n}"
        self.used_stems.add(stem)
        return stem

    def _free(self, files: tuple[Path, Path]) -> bool:
        """No such files; or, when resuming, a map pair a killed run wrote that no finished
        result names."""
        if not any(os.path.lexists(p) for p in files):
            return True
        if self.claimed is None or not all(p.is_file() and not p.is_symlink() for p in files):
            return False
        from vit_gui.cli.resume import photo_key

        return not any(photo_key(str(p)) in self.claimed for p in files)

    def _files(self, stem: str, slug: str) -> tuple[Path, Path]:
        return self.folder / f"{stem}.{slug}.npy", self.folder / f"{stem}.{slug}.png"

    def file_part(self, spec) -> str:
        """The map's part of the file name: its slug, with a class map's class named rather
        than numbered (`gradcam-tabby-cat`, not `gradcam281`); the number is kept only where
        two of the model's class names would make the same file name."""
        if not spec.method.needs_gradients:
            return spec.slug
        if self._safe_labels is None:
            safe = [safe_name(str(label)) for label in self.predictor.info.labels]
            self._safe_labels = [name if name and safe.count(name) == 1 else f"{name}-{i}".strip("-")
                                 for i, name in enumerate(safe)]
        index = spec.class_index
        name = self._safe_labels[index] if 0 <= index < len(self._safe_labels) else str(index)
        return f"{re.sub(r'[0-9]+$', '', spec.slug)}-{name}"

    def write(self, image, prediction, grid_map, spec) -> dict:
        from vit_gui.explain.overlay import overlay
        from vit_gui.fileio import atomic_save_image, atomic_save_npy

        part = self.file_part(spec)
        npy_path, png_path = self._files(self._stem(image.path, part), part)
        npy = atomic_save_npy(npy_path, grid_map)
        picture = overlay(image.image, grid_map, prediction.geometry, self.colormap, self.opacity)
        if self.legend:
            from vit_gui.explain.legend import with_legend
            from vit_gui.explain.maps import legend_words

            label = self.predictor.info.label(spec.class_index) if spec.method.needs_gradients else ""
            picture = with_legend(picture, self.colormap, *legend_words(spec.method, label))
        png = atomic_save_image(png_path, picture)
        written = {"kind": spec.slug, "npy": str(npy), "overlay": str(png)}
        if prediction.num_prefix > 1 and not spec.method.needs_gradients:
            written["extra_token_share"] = round(prediction.extra_token_share(spec), 6)
        return written

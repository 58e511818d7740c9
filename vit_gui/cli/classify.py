"""`vit-gui classify PATH...`: classify images headlessly, JSON or CSV out, maps and
faithfulness figures on request."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from vit_gui.cli.common import EXIT_CANNOT_RUN, EXIT_OK, EXIT_SOME_FAILED, say, writable_folder
from vit_gui.cli.parser import map_spec_from_args
from vit_gui.errors import VitGuiError


def check_output_places(args) -> None:
    if args.maps is not None:
        writable_folder(args.maps, "--maps")
    if args.output is not None:
        if args.output.is_dir():
            raise ValueError(f"-o {args.output} is a folder; name the results file")
        writable_folder(args.output.parent if str(args.output.parent) else Path("."), "the folder of -o")


def run_classify(args) -> int:
    from vit_gui.images import find_images
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor

    try:
        if args.top_k < 1 or args.batch_size < 1:
            raise ValueError("--top-k and --batch-size must be at least 1")
        if not 0.0 <= args.opacity <= 1.0:
            raise ValueError("--opacity must be in [0, 1]")
        map_spec_from_args(args)  # argument mistakes fail before a model is read
        check_output_places(args)  # so is a place results cannot be written to
        model_path = args.model or default_model_path()
        say(f"loading {model_path.name} on {args.device}")
        predictor = Predictor.from_file(model_path, args.device, args.precision)
        if predictor.precision.name != "float32" or args.precision:
            say(f"runs in {predictor.precision.name}: {predictor.precision.reason}")
        spec = map_spec_from_args(args, predictor.info.rollout_start_block)
        arch = predictor.info.architecture
        spec.check_against(arch.depth, arch.num_heads, arch.num_classes)
        if args.maps:
            from vit_gui.explain.overlay import get_colormap

            get_colormap(args.colormap)  # an unknown name fails now, not after the first image
    except (VitGuiError, ValueError) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    except Exception as exc:  # noqa: BLE001 - a model file must never end the command with a traceback
        say(f"error: the model could not be loaded ({type(exc).__name__}: {exc})")
        return EXIT_CANNOT_RUN
    for warning in predictor.info.warnings:
        say(f"warning: {warning}")
    if arch.is_backbone:
        from vit_gui.record import NO_CLASSES_NOTE

        say(f"note: {NO_CLASSES_NOTE}")

    skipped: list = []
    paths = find_images(args.paths, skipped=skipped)
    if not paths and not skipped:
        say("error: no image files found in " + ", ".join(map(str, args.paths)))
        return EXIT_CANNOT_RUN
    from vit_gui.record import ImageRecord

    records = list(_classify_all(predictor, paths, args, spec))
    for path, reason in skipped:  # listed, each with its reason, after the images that ran
        say(f"skipped {path}: {reason}")
        records.append(ImageRecord(len(records), path.name, str(path)).fail(reason))
    written = _write_results(records, args)
    failed = sum(r.error is not None for r in records)
    unmapped = sum(1 for r in records if r.maps and "error" in r.maps)
    if failed:
        say(f"{failed} of {len(records)} images could not be classified")
    if unmapped:
        say(f"the maps of {unmapped} images could not be written (see each one's \"maps\" error)")
    return EXIT_SOME_FAILED if failed or unmapped or not written else EXIT_OK


def _classify_all(predictor, paths, args, spec):
    """Yield one record per path, in order, loading images batch by batch."""
    from vit_gui.errors import ImageLoadError
    from vit_gui.images import load_image
    from vit_gui.record import ImageRecord

    writer = MapWriter(predictor, args, spec) if args.maps else None
    done = 0
    for start in range(0, len(paths), args.batch_size):
        loaded, records = [], []
        for index, path in enumerate(paths[start : start + args.batch_size], start):
            record = ImageRecord(index, path.name, str(path))
            try:
                image = load_image(path)
                record.notes = image.notes
                loaded.append((record, image))
            except ImageLoadError as exc:
                record.fail(str(exc))
            records.append(record)
        if loaded:
            _predict_batch(predictor, loaded, args, spec, writer)
            while predictor.notices:
                say(f"note: {predictor.notices.pop(0)}")
        for record in records:
            done += 1
            if len(paths) > 1:
                say(f"[{done}/{len(paths)}] {record.path}" + (" (failed)" if record.error else ""))
            yield record


def _predict_batch(predictor, loaded, args, spec, writer) -> None:
    """Fill in each loaded record's top classes (and maps); a failure marks the batch's items."""
    from vit_gui.errors import VitGuiError

    wants_map = writer is not None or args.faithfulness
    wants_attn = wants_map and spec.kind != "class"
    try:
        predictions = predictor.predict([img.image for _, img in loaded], args.top_k, wants_attn)
    except VitGuiError as exc:
        for record, _ in loaded:
            record.fail(str(exc))
        return
    for (record, image), prediction in zip(loaded, predictions):
        record.take(prediction, record.notes)
        grid_map = None
        if wants_map:
            if spec.kind == "class":
                grid_map, _ = predictor.class_map(image.image, spec.class_index)
            else:
                grid_map = prediction.map(spec)
        if writer:
            try:
                record.maps = writer.write(image, prediction, grid_map)
            except OSError as exc:  # a full disk, a folder removed meanwhile: the result still counts
                record.maps = {"kind": spec.slug, "error": f"could not write the map files ({exc.strerror or exc})"}
        if args.faithfulness and prediction.probs is not None:
            from vit_gui.explain.faithfulness import curves

            explained = spec.class_index if spec.kind == "class" else None
            record.faithfulness = {"map": spec.slug, **curves(predictor, image.image, grid_map, explained,
                                                               removal=args.removal).to_json()}
        record.prediction = None  # its attentions are not needed past this batch


class MapWriter:
    """Writes each image's map (.npy, patch grid, [0, 1]) and its overlay (.png)."""

    def __init__(self, predictor, args, spec):
        self.predictor, self.spec = predictor, spec
        self.folder, self.colormap, self.opacity = args.maps, args.colormap, args.opacity
        self.legend = args.legend
        self.used_stems: set[str] = set()

    def _stem(self, path: Path) -> str:
        """`stem`, else `stem-2`, … : never a name this run used, nor one whose files exist
        already (the user's own files are not overwritten, even with --maps in the photos' folder)."""
        stem, n = path.stem, 1
        while stem in self.used_stems or any(os.path.lexists(p) for p in self._files(stem)):
            n += 1
            stem = f"{path.stem}-{n}"
        self.used_stems.add(stem)
        return stem

    def _files(self, stem: str) -> tuple[Path, Path]:
        return self.folder / f"{stem}.{self.spec.slug}.npy", self.folder / f"{stem}.{self.spec.slug}.png"

    def write(self, image, prediction, grid_map) -> dict:
        from vit_gui.explain.overlay import overlay
        from vit_gui.fileio import atomic_save_image, atomic_save_npy

        npy_path, png_path = self._files(self._stem(image.path))
        npy = atomic_save_npy(npy_path, grid_map)
        picture = overlay(image.image, grid_map, prediction.geometry, self.colormap, self.opacity)
        if self.legend:
            from vit_gui.explain.legend import with_legend
            from vit_gui.explain.maps import legend_words

            label = self.predictor.info.label(self.spec.class_index) if self.spec.kind == "class" else ""
            picture = with_legend(picture, self.colormap, *legend_words(self.spec.method, label))
        png = atomic_save_image(png_path, picture)
        written = {"kind": self.spec.slug, "npy": str(npy), "overlay": str(png)}
        if prediction.num_prefix > 1 and self.spec.kind != "class":
            written["extra_token_share"] = round(prediction.extra_token_share(self.spec), 6)
        return written


def _write_results(records, args) -> bool:
    """Results to -o, or stdout; if -o cannot be written (a full disk) they still reach
    stdout, and False says so."""
    if args.format == "json":
        text = json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    else:
        from vit_gui.results_csv import results_csv

        text = results_csv(records)
    written = True
    if args.output:
        from vit_gui.fileio import atomic_write_text

        try:
            atomic_write_text(args.output, text)
            return True
        except OSError as exc:
            say(f"error: could not write {args.output} ({exc.strerror or exc}); the results follow on stdout")
            written = False
    if sys.stdout is not None:
        sys.stdout.write(text)
        sys.stdout.flush()
    return written



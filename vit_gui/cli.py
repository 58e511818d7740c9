"""Command line: `vit-gui classify PATH...` classifies images headlessly (JSON or CSV out).

Exit codes: 0 every image classified; 1 some images failed (each has its error in the
output, the rest were still classified); 2 nothing could run (no model, bad checkpoint,
CUDA missing, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vit_gui import __version__
from vit_gui.errors import VitGuiError

EXIT_OK, EXIT_SOME_FAILED, EXIT_CANNOT_RUN = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vit-gui",
        description="Classify images with a Vision Transformer and show where it looked.",
    )
    parser.add_argument("--version", action="version", version=f"vit-gui {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation end to end, offscreen, and exit (0 = all worked)")
    parser.add_argument("--model", dest="self_test_model", type=Path, metavar="FILE",
                        help="with --self-test: the model to test (default: the default model)")
    commands = parser.add_subparsers(dest="command")
    classify = commands.add_parser(
        "classify",
        help="classify images or folders (recursed) and print JSON or CSV",
        description="Classify images; folders are searched recursively for image files.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    classify.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    classify.add_argument("--model", type=Path, help="checkpoint file (default: the installed default model)")
    classify.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    classify.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16", "int8"),
                          help="number format: auto picks the fastest that agrees with float32 on this device "
                               "(default: the model's own, else float32)")
    classify.add_argument("--top-k", type=int, default=5, help="classes per image (default: 5)")
    classify.add_argument("--format", choices=("json", "csv"), default="json")
    classify.add_argument("-o", "--output", type=Path, help="write results here instead of stdout")
    classify.add_argument("--batch-size", type=int, default=8, help="images per model run (default: 8)")
    maps = _add_map_options(classify)
    maps.add_argument("--faithfulness", action="store_true",
                      help="check the map: deletion and insertion curves against a random order (adds "
                           "deletion_auc, insertion_auc and random_auc to each image; a few model runs each)")
    maps.add_argument("--removal", choices=("drop", "mean"), default="drop",
                      help="with --faithfulness: remove patches by dropping their tokens (default) or by "
                           "filling them with the mean colour")
    maps.add_argument("--colormap", default="inferno", help="matplotlib colormap for overlays")
    maps.add_argument("--opacity", type=float, default=0.5, help="overlay opacity in [0, 1] (default: 0.5)")
    maps.add_argument("--no-legend", dest="legend", action="store_false",
                      help="leave out the colour bar with words under each overlay (less … more attention)")
    teach = commands.add_parser(
        "teach", help="teach new classes: a folder per class becomes a classifier on a frozen ViT",
        description="Teach new classes from a folder with one subfolder per class (or the class folders "
                    "themselves). A linear probe is trained on the frozen model's features (extracted once "
                    "and cached), its weight decay chosen on a validation split; the result is an ordinary "
                    "model file with maps for the new classes. A JSON report goes to stdout.")
    teach.add_argument("data", nargs="+", type=Path, metavar="DATA_DIR")
    teach.add_argument("--model", type=Path, help="the base model (default: the installed default model)")
    teach.add_argument("-o", "--output", type=Path, metavar="OUT",
                       help="where to write the model: a folder, or a .safetensors file name "
                            "(default: the user's models folder, where the app finds it)")
    teach.add_argument("--name", help="the model's name (default: the data folder's name)")
    teach.add_argument("--mode", choices=("probe", "finetune"), default="probe",
                       help="probe: a linear classifier on frozen features (default, seconds); finetune: "
                            "then also train the last --blocks blocks with light augmentation (minutes)")
    teach.add_argument("--feature", choices=("cls", "cls+mean"), default="cls",
                       help="what the classifier reads: the class token (default), or the class token beside "
                            "the mean of the patch tokens (DINOv2's linear evaluation)")
    teach.add_argument("--val-split", type=float, default=0.2, help="share of each class kept for validation")
    teach.add_argument("--val-dir", type=Path, metavar="DIR",
                       help="a separate validation folder (one subfolder per class) instead of a split")
    teach.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (finetune mode; default 5)")
    teach.add_argument("--blocks", type=int, default=2,
                       help="how many of the last blocks fine-tuning trains (finetune mode; default 2)")
    teach.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    teach.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    models = commands.add_parser("models", help="list the known models, or download one")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    models_commands.add_parser("list", help="catalogue models and the model files present")
    get = models_commands.add_parser("get", help="download, verify and install a catalogue model")
    get.add_argument("name", help="short name (e.g. vit-b16) or timm name")
    get.add_argument("--url", help="download from this mirror instead of the catalogue's source")
    return parser


# The option that sets each MapSpec parameter: (flag, argparse keywords). Which ones a map
# reads, and the --map choices, come from the registry (explain.maps.METHODS).
MAP_PARAMETER_OPTIONS = {
    "fusion": ("--fusion", dict(choices=("mean", "max", "min"), help="how a block's heads are combined (default: mean)")),
    "discard_ratio": ("--discard", dict(type=float, metavar="R", help="ignore this fraction of the weakest "
                                        "attention links, in [0, 1) (default: 0)")),
    "start_block": ("--rollout-from", dict(type=int, metavar="B", help="start the rollout at block B (1-based; "
                                           "default: the model's own advice, else 1)")),
    "block": ("--layer", dict(type=int, metavar="L", help="the block (1-based)")),
    "head": ("--head", dict(type=int, metavar="H", help="the head within --layer (1-based)")),
    "class_index": ("--class-index", dict(type=int, metavar="C", help="the class (0-based index)")),
}


def _add_map_options(command):
    import textwrap

    from vit_gui.explain.maps import METHODS

    lines = [textwrap.fill(f"{m.name}: {m.description} (options: "
                           f"{', '.join(MAP_PARAMETER_OPTIONS[p][0] for p in m.parameters)})",
                           width=78, subsequent_indent="    ") for m in METHODS.values()]
    maps = command.add_argument_group("attention maps (written with --maps)", "\n".join(lines))
    maps.add_argument("--maps", type=Path, metavar="DIR", help="write <stem>.<map>.npy and <stem>.<map>.png here")
    maps.add_argument("--map", choices=list(METHODS), dest="map_kind",
                      help="which map (default: rollout; or the one --layer/--head/--class-index imply)")
    for parameter, (flag, keywords) in MAP_PARAMETER_OPTIONS.items():
        maps.add_argument(flag, dest=parameter, **keywords)
    return maps


def map_spec_from_args(args, default_start_block: int = 0):
    """The MapSpec the options describe; an option the chosen map does not read is an error,
    not silently ignored."""
    from vit_gui.explain.maps import METHODS, MapSpec

    given = {p for p in MAP_PARAMETER_OPTIONS if getattr(args, p, None) is not None}
    kind = args.map_kind
    if kind is None:  # implied by the options, as before --map existed
        kind = ("class" if "class_index" in given else "head" if "head" in given and "block" in given
                else "block" if "block" in given else "rollout")
    method = METHODS[kind]
    if "head" in given and "block" not in given:
        raise ValueError("--head needs --layer (the block the head belongs to)")
    stray = sorted(given - set(method.parameters))
    if stray:
        flags = ", ".join(MAP_PARAMETER_OPTIONS[p][0] for p in stray)
        reads = ", ".join(MAP_PARAMETER_OPTIONS[p][0] for p in method.parameters) or "no options"
        verb = "does" if len(stray) == 1 else "do"
        raise ValueError(f"{flags} {verb} not apply to the {kind} map (it reads {reads})")
    needed = [p for p in ("block", "head", "class_index") if p in method.parameters and p not in given]
    if needed:
        raise ValueError(f"the {kind} map needs {', '.join(MAP_PARAMETER_OPTIONS[p][0] for p in needed)}")
    one_based = {"block", "head", "start_block"}
    values = {p: getattr(args, p) - 1 if p in one_based else getattr(args, p) for p in given}
    if "start_block" in method.parameters and "start_block" not in given:
        values["start_block"] = default_start_block
    return MapSpec(kind, **values)


def say(message: str) -> None:
    """Progress and diagnostics go to stderr, which a windowed frozen app may not have.
    Control characters from file names and labels are written out, never sent raw to the
    terminal (an escape sequence could rewrite what the user sees)."""
    if sys.stderr is not None:
        from vit_gui.results_csv import printable

        print(f"vit-gui: {printable(message)}", file=sys.stderr, flush=True)


def _writable_folder(folder: Path, what: str) -> None:
    """Create `folder` if needed; ValueError saying why results could not be written there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        from vit_gui.file_kinds import not_regular_reason

        kind = not_regular_reason(folder) or "a file"
        raise ValueError(f"{what} {folder} is {kind}, not a folder") from None
    except OSError as exc:
        raise ValueError(f"{what} {folder} cannot be created ({exc.strerror or exc})") from None
    if not folder.is_dir():
        raise ValueError(f"{what} {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {folder} is not writable (permission denied)")


def check_output_places(args) -> None:
    if args.maps is not None:
        _writable_folder(args.maps, "--maps")
    if args.output is not None:
        if args.output.is_dir():
            raise ValueError(f"-o {args.output} is a folder; name the results file")
        _writable_folder(args.output.parent if str(args.output.parent) else Path("."), "the folder of -o")


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


def run_models(args) -> int:
    from vit_gui.model import catalog

    if args.models_command == "list":
        present = catalog.discover_models()
        installed = {e.path.name for e in present}
        lines = ["Catalogue (vit-gui models get NAME):"]
        for m in catalog.CATALOG:
            mark = "installed" if m.filename in installed else f"~{m.approx_bytes / 1e6:.0f} MB"
            lines.append(f"  {m.name:<18} {m.title:<50} {m.what:<28} "
                         f"{m.license:<11} {mark}")
        lines.append("Models present (best first; the first is the default):" if present else "No models present.")
        lines += [f"  {e.name}  [{e.origin}]  {e.path}" for e in present]
        if sys.stdout is not None:
            print("\n".join(lines))
        return EXIT_OK
    from vit_gui.model.download import DownloadCancelled, DownloadError, download_model

    try:
        model = catalog.known_model(args.name)
    except KeyError as exc:
        say(f"error: {exc.args[0]}")
        return EXIT_CANNOT_RUN
    say(f"downloading {model.title} (~{model.approx_bytes / 1e6:.0f} MB, {model.license}) from {args.url or model.url}")
    try:
        path = download_model(model, url=args.url, progress=ProgressPrinter())
    except KeyboardInterrupt:
        say("cancelled; run the same command again to resume")
        return EXIT_CANNOT_RUN
    except (DownloadError, DownloadCancelled) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    say(f"installed {path}")
    return EXIT_OK


class ProgressPrinter:
    """A one-line progress bar on a terminal, a line per 10% elsewhere (logs, pipes)."""

    def __init__(self):
        self.last_decile = -1

    def __call__(self, done: int, total: int | None) -> None:
        if sys.stderr is None:
            return
        if total:
            fraction = done / total
            bar = "#" * int(30 * fraction)
            text = f"[{bar:<30}] {100 * fraction:5.1f}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            fraction, text = 0.0, f"{done / 1e6:.1f} MB"
        if sys.stderr.isatty():
            print(f"\r{text}", end="" if done != total else "\n", file=sys.stderr, flush=True)
        elif int(fraction * 10) > self.last_decile:
            self.last_decile = int(fraction * 10)
            print(text, file=sys.stderr, flush=True)


def run_teach(args) -> int:
    """Exit codes as classify: 0 taught from every image, 1 taught but some images were left
    out (each listed with its reason), 2 nothing could be taught."""
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor
    from vit_gui.teach.data import TeachDataError
    from vit_gui.teach.features import TeachCancelled
    from vit_gui.teach.run import teach
    from vit_gui.teach.save import save_taught_model

    try:
        if args.epochs < 1 or not 0 <= args.blocks:
            raise ValueError("--epochs must be at least 1 and --blocks at least 0")
        model_path = args.model or default_model_path()
        say(f"loading {model_path.name} on {args.device}")
        predictor = Predictor.from_file(model_path, args.device)
        out = args.output
        folder = out.parent if out is not None and out.suffix == ".safetensors" else out
        if folder is not None:
            _writable_folder(folder, "-o")
        name = args.name or (out.stem if out is not None and out.suffix == ".safetensors" else args.data[0].name)

        def progress(stage, done, total):
            if stage == "reading images" and (done == total or done % 50 == 0):
                say(f"{stage}: {done}/{total}")
            elif stage == "training" and done == 0:
                say("training the probe")
            elif stage == "fine-tuning" and (done == total or done % 10 == 0):
                say(f"{stage}: step {done}/{total}")

        taught = teach(args.data, predictor, model_path, args.val_split, args.seed, progress,
                       val_folders=[args.val_dir] if args.val_dir else None, mode=args.mode,
                       blocks=min(args.blocks, predictor.info.architecture.depth), epochs=args.epochs,
                       feature=args.feature)
        stem = out.stem if out is not None and out.suffix == ".safetensors" else None
        path = save_taught_model(model_path, predictor.info, taught.digest, taught.dataset.classes, taught.probe,
                                 taught.facts, name, folder, taught.tuned_state, file_stem=stem)
    except (VitGuiError, ValueError, TeachDataError, TeachCancelled) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    except OSError as exc:
        say(f"error: could not write the model ({exc.strerror or exc})")
        return EXIT_CANNOT_RUN
    for item, why in taught.dataset.skipped:
        say(f"left out {item}: {why}")
    report = {"model": str(path), "classes": taught.dataset.classes, "counts": taught.dataset.counts(),
              **taught.facts, **taught.report.to_json(), "worst": taught.worst_items(),
              "skipped": [{"path": str(p), "reason": why} for p, why in taught.dataset.skipped],
              "weight_decays_tried": [{k: (None if v != v else v) for k, v in row.items()}  # NaN: no validation
                                      for row in taught.probe.history]}
    if sys.stdout is not None:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    accuracy = report["validation_accuracy"]
    say(f"saved {path}" + (f" (validation accuracy {accuracy:.1%})" if accuracy is not None else ""))
    return EXIT_SOME_FAILED if taught.dataset.skipped else EXIT_OK


COMMANDS = ("classify", "models", "teach")


def main(argv: list[str] | None = None) -> int:
    """`vit-gui` alone opens the window, `vit-gui PHOTO…` opens it on those photos or
    folders (what a file manager's "Open with" runs); `vit-gui classify|models|teach …`
    runs headless."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        missing = [a for a in argv if not Path(a).exists()]
        if missing:
            say(f"error: no such file or folder: {', '.join(missing)} (commands: {', '.join(COMMANDS)})")
            return EXIT_CANNOT_RUN
        from vit_gui.gui.app import run_app

        return run_app(open_paths=argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "classify":
        return run_classify(args)
    if args.command == "models":
        return run_models(args)
    if args.command == "teach":
        return run_teach(args)
    if args.self_test:
        from vit_gui.selftest import run_self_test

        return run_self_test(args.self_test_model)
    from vit_gui.gui.app import run_app

    return run_app()


def console_main() -> int:
    """The `vit-gui` program. After a headless command every output file is closed and
    written, so the process ends without Python's module teardown: torch's alone costs
    ~0.27 s, a fifth of classifying one photo. The window keeps the normal exit (Qt
    saves settings while it tears down)."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv and argv[0] in COMMANDS:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        os._exit(code)
    return code

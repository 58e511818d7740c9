"""`vit-gui classify PATH...`: classify images headlessly, JSON or CSV out, maps and
faithfulness figures on request.

One image's trouble stays with that image: a batch the model fails on is retried image by
image, a map or a check that cannot be made is an error beside its image, and whatever
finished is written even when the run is interrupted (Ctrl+C, SIGTERM: exit 130).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

from vit_gui.cli.common import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, say, writable_folder
from vit_gui.cli.output import OutputFailed, ResultsOutput, hold_lock, open_output
from vit_gui.cli.parser import MAP_PARAMETER_OPTIONS, map_spec_from_args
from vit_gui.cli.signals import sigterm_as_interrupt
from vit_gui.errors import VitGuiError


def check_output_places(args) -> None:
    if args.maps is not None:
        writable_folder(args.maps, "--maps")
    if args.output is not None:
        if args.output.is_dir():
            raise ValueError(f"-o {args.output} is a folder; name the results file")
        writable_folder(args.output.parent if str(args.output.parent) else Path("."), "the folder of -o")


def run_classify(args) -> int:
    held: list = []  # the results file's lock (a descriptor) and a cluster's connection, held for the whole run
    try:
        return _run_classify(args, held)
    finally:
        for fd in held:
            if isinstance(fd, int):
                os.close(fd)
            elif fd is not None:
                fd.close()


def _run_classify(args, locks: list) -> int:
    from vit_gui.cli.results_file import output_problem
    from vit_gui.errors import NoModelError
    from vit_gui.fileio import link_target
    from vit_gui.images import find_images
    from vit_gui.results_csv import csv_columns

    try:
        if args.top_k < 1 or args.batch_size < 1:
            raise ValueError("--top-k and --batch-size must be at least 1")
        if not 0.0 <= args.opacity <= 1.0:
            raise ValueError("--opacity must be in [0, 1]")
        shard = parse_shard(args.shard)
        if args.cluster is not None:
            from vit_gui.cli.cluster import parse_cluster, refused

            parse_cluster(args.cluster)
            if why := refused(args):
                raise ValueError(why)
        map_spec_from_args(args)  # argument mistakes fail before a model is read
        check_output_places(args)  # so is a place results cannot be written to
        if args.resume and (args.format == "json" or args.output is None):
            raise ValueError("--resume needs -o FILE and --format jsonl or csv (a JSON list is written whole at the end)")
        model_path = _model_path(args)
        skipped: list = []
        paths = without_earlier_maps(find_images(args.paths, skipped=skipped), args.maps)
        if not paths and not skipped:
            raise ValueError("no image files found in " + ", ".join(map(str, args.paths)))
        if args.output is not None and (problem := output_problem(args.output, paths, model_path, args.force,
                                                                   args.resume)):
            raise ValueError(problem)
        if shard is not None:
            paths = [p for p in paths if share_of(p, args.paths, shard[1]) == shard[0]]
            skipped = [(p, why) for p, why in skipped if share_of(p, args.paths, shard[1]) == shard[0]]
            say(f"share {shard[0] + 1} of {shard[1]}: {len(paths)} photos")
        columns = csv_columns(args.faithfulness, args.sanity, args.maps is not None)
        run = _run_record(args, model_path)
        if run is not None and args.output.is_file():
            locks.append(hold_lock(link_target(args.output)))
        finished = _finished_before(args, run, columns)
    except (ValueError, NoModelError) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    except OSError as exc:
        say(f"error: {args.output} cannot be read ({exc.strerror or exc})")
        return EXIT_CANNOT_RUN
    try:
        if args.cluster is not None:  # the model is loaded on the cluster's workers
            from vit_gui.cli.cluster import RayRun

            cluster = RayRun(args, model_path, classify_all)
            locks.append(cluster)  # disconnected when the command ends, however it ends
            predictor, spec = (cluster, None) if cluster.connect() else (None, None)
        else:
            predictor, spec = _load(args, model_path)
    except KeyboardInterrupt:
        say("interrupted while the model was loading: nothing was classified, nothing written")
        return EXIT_INTERRUPTED
    if predictor is None:
        return EXIT_CANNOT_RUN
    if finished is not None:
        paths, skipped = _still_to_do(finished, paths, skipped)
    try:  # opened once the model runs: a model that cannot load leaves an existing -o untouched
        output = open_output(args, run, columns, resuming=finished is not None)
    except (ValueError, OSError) as exc:
        say(f"error: could not write {args.output} ({getattr(exc, 'strerror', None) or exc})")
        return EXIT_CANNOT_RUN
    interrupted, written = False, 0
    with sigterm_as_interrupt():
        try:
            claimed = finished.claimed_maps if finished is not None else None
            records = (predictor.records(paths) if args.cluster is not None
                       else classify_all(predictor, paths, args, spec, claimed))
            for done, record in enumerate(records, 1):
                output.add(record)  # before it is reported: what the user saw finish is written
                written = done
                if len(paths) > 1:
                    say(f"[{done}/{len(paths)}] {record.path}" + (" (failed)" if record.error else ""))
        except KeyboardInterrupt:
            interrupted = written < len(paths)  # a Ctrl+C after the last record was written leaves a finished run
            say(f"interrupted after {output.count} of {len(paths)} images: writing the {output.count} that finished"
                if interrupted else f"interrupted after every image was written (all {len(paths)}): the run is complete")
        except OutputFailed:
            interrupted = True  # what was written is kept; the rest needs room first (or a cluster that works)
        except BaseException:
            output.finish(complete=False)  # a bug must not cost the results that finished, nor an earlier file
            raise
    return _finish(output, skipped, interrupted)


def _model_path(args) -> Path:
    from vit_gui.model.catalog import default_model_path

    return args.model or default_model_path()


def without_earlier_maps(paths: list[Path], maps: Path | None) -> list[Path]:
    """The photos, less the overlays an earlier run wrote with --maps into a folder that is
    among them (NAME.MAP.png beside its NAME.MAP.npy): they are results, not photos."""
    if maps is None:
        return paths
    folder = os.path.realpath(maps)
    kept = [p for p in paths if not (p.suffix.lower() == ".png" and "." in p.stem
                                    and os.path.realpath(p.parent) == folder and p.with_suffix(".npy").is_file())]
    if len(kept) < len(paths):
        say(f"left out {len(paths) - len(kept)} overlays that an earlier run wrote to {maps}")
    return kept


def _run_record(args, model_path: Path) -> dict | None:
    """What the results are made with, recorded beside -o (none for stdout or a pipe)."""
    if args.output is None or (args.output.exists() and not args.output.is_file()):
        return None
    from vit_gui.cli.run_record import describe_run

    return describe_run(args, model_path)


def _finished_before(args, run: dict | None, columns: list[str]):
    """With --resume: what -o already holds (a resume.Finished), checked line by line and
    against the run that made it, before the model loads; None when there is nothing to
    continue (no file yet, or an empty one)."""
    from vit_gui.fileio import link_target

    target = link_target(args.output) if args.output is not None else None
    if not args.resume or run is None or not target.is_file() or not target.stat().st_size:
        return None
    from vit_gui.cli.results_file import results_kind
    from vit_gui.cli.resume import read_finished
    from vit_gui.cli.run_record import differences, read_record, shape_differences

    kind = results_kind(target)
    if kind != args.format:
        raise ValueError(f"{args.output} holds {kind.upper() if kind else 'something else'} results, not "
                         f"{args.format.upper()}: --resume adds only to a file of the same format")
    recorded = read_record(target)  # ValueError when there is one that cannot be read
    finished = read_finished(target, args.format, recorded.get("cwd") if recorded else None)
    said = differences(recorded, run) if recorded else shape_differences(finished, args, columns)
    if said:
        raise ValueError(f"{args.output} was made by another run, which --resume would mix with this one: "
                         + "; ".join(said) + ". Resume with the same model and options, or name a new -o file")
    if recorded is None:
        say(f"note: {args.output} has no record of the model it was made with (made by an older vit-gui); "
            "its lines match this run's")
    return finished


def _still_to_do(finished, paths: list[Path], skipped: list):
    """The photos the file does not hold yet; those that failed there are tried again (their
    new line follows the failed one: a photo's last line is its result)."""
    from vit_gui.cli.resume import photo_key, ready_to_add

    keys = {photo_key(str(p)) for p in paths} | {photo_key(str(p)) for p, _ in skipped}
    retry = finished.failed & keys
    ready_to_add(finished)
    paths = [p for p in paths if photo_key(str(p)) not in finished.done]
    skipped = [(p, why) for p, why in skipped if photo_key(str(p)) not in finished.done]
    if finished.base and finished.base != os.getcwd():  # relative paths in the file are read from its folder
        paths = [p.absolute() for p in paths]
        skipped = [(p.absolute(), why) for p, why in skipped]
    say(f"resuming {finished.path}: {len(finished.done)} photos already there, {len(paths)} to go"
        + (f" ({len(retry)} that failed before tried again)" if retry else ""))
    return paths, skipped


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """`--shard I/N` -> (I - 1, N): this run's share of N."""
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise ValueError(f"--shard must be I/N, e.g. 2/8, got {value!r}") from None
    if count < 1:
        raise ValueError(f"--shard {value}: N, the number of shares, must be at least 1 (e.g. 1/4 … 4/4)")
    if not 1 <= index <= count:
        raise ValueError(f"--shard {value}: I, this run's share, must be one of 1 … {count}")
    return index - 1, count


def share_of(path: Path, roots, count: int) -> int:
    """Which of `count` shares a photo belongs to: by a hash of its path below the folder it
    was found in, so every machine (wherever the folder is mounted) splits it the same way,
    and the shares stay the same when photos are added."""
    key = path.name
    for root in map(Path, roots):
        try:
            key = path.relative_to(root).as_posix() if root.is_dir() else path.name
            break
        except ValueError:
            continue
    return int(hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:12], 16) % count


def _load(args, model_path: Path):
    """(predictor, map spec), or (None, None) after saying why the model cannot run."""
    from vit_gui.predict import Predictor

    try:
        say(f"loading {model_path.name} on {args.device}")
        predictor = Predictor.from_file(model_path, args.device, args.precision, args.engine)
        if predictor.precision.name != "float32" or args.precision or predictor.engine != "torch":
            say(f"runs in {predictor.precision.name} on {predictor.engine}: {predictor.precision.reason}")
        if args.map_kind is None and not any(getattr(args, p, None) is not None for p in MAP_PARAMETER_OPTIONS):
            args.map_kind = predictor.info.default_map  # class evidence for a taught model
        spec = map_spec_from_args(args, predictor.info.rollout_start_block)
        arch = predictor.info.architecture
        spec.check_against(arch.depth, arch.num_heads, arch.num_classes)
        if args.maps:
            from vit_gui.explain.overlay import get_colormap

            get_colormap(args.colormap)  # an unknown name fails now, not after the first image
    except (VitGuiError, ValueError) as exc:
        say(f"error: {exc}")
        return None, None
    except Exception as exc:  # noqa: BLE001 - a model file must never end the command with a traceback
        say(f"error: the model could not be loaded ({type(exc).__name__}: {exc})")
        return None, None
    for warning in predictor.info.warnings:
        say(f"warning: {warning}")
    if arch.is_backbone:
        from vit_gui.record import NO_CLASSES_NOTE

        say(f"note: {NO_CLASSES_NOTE}")
    return predictor, spec


def _finish(output: ResultsOutput, skipped: list, interrupted: bool) -> int:
    from vit_gui.record import ImageRecord

    for path, reason in skipped:  # listed, each with its reason, after the images that ran
        say(f"skipped {path}: {reason}")
        output.add(ImageRecord(output.count, path.name, str(path)).fail(reason))
    written = output.finish(complete=not interrupted)
    if output.failed:
        say(f"{output.failed} of {output.count} images could not be classified")
    if output.unmapped:
        say(f"the maps of {output.unmapped} images could not be written (see each one's \"maps\" error)")
    if output.unchecked:
        say(f"the maps of {output.unchecked} images could not be checked (see each one's \"faithfulness\" or "
            "\"sanity\" error)")
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if output.failed or output.unmapped or output.unchecked or not written else EXIT_OK


def classify_all(predictor, paths, args, spec, claimed_maps=None):
    """Yield one record per path, in order, loading images batch by batch (a cluster's
    workers run it too, on their share)."""
    from vit_gui.cli.map_files import MapWriter
    from vit_gui.errors import ImageLoadError
    from vit_gui.images import load_image
    from vit_gui.record import ImageRecord

    writer = MapWriter(predictor, args, claimed_maps) if args.maps else None
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
        yield from records


def _predict_batch(predictor, loaded, args, spec, writer) -> None:
    """Fill in each loaded record's top classes (and maps). A batch the model fails on (an
    image whose numbers overflow) is retried image by image, as the window does, so the
    failure stays with the image that caused it."""
    wants_map = writer is not None or args.faithfulness or args.sanity
    wants_attn = wants_map and not spec.method.needs_gradients
    try:
        predictions = predictor.predict([img.image for _, img in loaded], args.top_k, wants_attn)
    except VitGuiError as exc:
        if len(loaded) > 1:
            for item in loaded:
                _predict_batch(predictor, [item], args, spec, writer)
        else:
            loaded[0][0].fail(str(exc))
        return
    for (record, image), prediction in zip(loaded, predictions):
        record.take(prediction, record.notes)
        if wants_map:
            _map_and_check(predictor, record, image, prediction, args, spec, writer)
        record.prediction = None  # its attentions are not needed past this batch


def _map_and_check(predictor, record, image, prediction, args, spec, writer) -> None:
    """The image's map (written with --maps) and its check (--faithfulness); a failure of
    either is an error beside this image, its classification kept."""
    if spec.method.needs_gradients and args.class_index is None and prediction.top:
        spec = replace(spec, class_index=prediction.top[0].index)  # no --class-index: the image's top class
    try:
        if spec.method.needs_gradients:
            grid_map, _ = predictor.gradient_map(image.image, spec)
        else:
            grid_map = prediction.map(spec)
    except (VitGuiError, ValueError, RuntimeError) as exc:
        error = {"kind": spec.slug, "error": f"the map could not be computed ({exc})"}
        record.maps = error if writer else None
        record.faithfulness = {"map": spec.slug, "error": error["error"]} if args.faithfulness else None
        record.sanity = {"map": spec.slug, "error": error["error"]} if args.sanity else None
        return
    if writer:
        try:
            record.maps = writer.write(image, prediction, grid_map, spec)
        except OSError as exc:  # a full disk, a folder removed meanwhile: the result still counts
            record.maps = {"kind": spec.slug, "error": f"could not write the map files ({exc.strerror or exc})"}
    from vit_gui.cli.check_lines import CheckLines
    from vit_gui.explain.check_progress import CheckProgress

    lines = CheckLines(record.name)
    progress = CheckProgress(1, lines, with_sanity=args.sanity)
    try:
        _check(predictor, record, image, grid_map, args, spec, progress)
    finally:
        lines.end()


def _check(predictor, record, image, grid_map, args, spec, progress) -> None:
    """--faithfulness and --sanity for one image, each error beside it."""
    if args.faithfulness:  # a backbone's map is judged by its embedding (class-free)
        from vit_gui.explain.faithfulness import check_map

        explained = spec.class_index if spec.method.needs_gradients else None
        try:
            progress.start_map(0)
            checked = check_map(predictor, image.image, grid_map, explained, args.removal,
                                progress=progress.copies_done)
            progress.copies_finished(checked.compared)
            figures = checked.to_json()
        except (VitGuiError, ValueError, RuntimeError) as exc:
            figures = {"error": f"the map could not be checked ({exc})"}
        record.faithfulness = {"map": spec.slug, **figures}
    if args.sanity:
        from vit_gui.explain.trust import test_map

        try:
            randomisation, stability = test_map(predictor, image.image, spec)
            record.sanity = {"map": spec.slug, "randomisation": randomisation.to_json(),
                             "stability": stability.to_json(), "in_words": [randomisation.sentence(),
                                                                            stability.sentence()]}
        except (VitGuiError, ValueError, RuntimeError) as exc:
            record.sanity = {"map": spec.slug, "error": f"the map could not be tested ({exc})"}

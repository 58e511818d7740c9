"""`vit-gui compare A B PHOTOS...`: two models on the same photos, headless: per photo each
model's top class and how much their maps agree on the photo (explain.agreement), and over
all photos the top-1 agreement and mean map agreement with their intervals. JSON (default)
or CSV on stdout; progress and problems on stderr. Photos that disagree come first."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from vit_gui.cli.common import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, say
from vit_gui.errors import VitGuiError

BATCH = 8
CSV_COLUMNS = ("path", "top_a", "prob_a", "top_b", "prob_b", "top1_agree", "map_agreement", "seen_by_both", "error")


def _maps(predictor, images, predictions, kind: str) -> list:
    """(grid map, geometry) of each photo under `predictor`."""
    from vit_gui.explain.maps import MapSpec

    if kind == "class":
        if not predictor.info.architecture.num_classes:
            raise ValueError(f"{predictor.info.name} has no classes: compare its rollout (--map rollout)")
        return [predictor.class_map(image, p.top[0].index) for image, p in zip(images, predictions)]
    spec = MapSpec("rollout", start_block=predictor.info.rollout_start_block)
    return [(p.map(spec), p.geometry) for p in predictions]


def _named(top) -> tuple[str | None, float | None]:
    return (None, None) if top is None else (top.label, round(float(top.prob), 6))


def _answers(model, images, kind: str) -> tuple[list, list]:
    """(top class or None, (grid map, geometry)) of each photo under `model`: its attentions
    are dropped here, before the other model runs (a DINOv2 photo's are hundreds of MB)."""
    predictions = model.predict(images, top_k=1, with_attentions=kind == "rollout")
    return [p.top[0] if p.top else None for p in predictions], _maps(model, images, predictions, kind)


def compare_batch(model_a, model_b, paths: list, kind: str = "rollout") -> list:
    """PhotoAgreement of each photo of one batch (one model run each), in the order given, the
    path as given (str); an unreadable photo gets a row with its error. Raises what the models
    raise (a class map of a model without classes: ValueError)."""
    from vit_gui.explain.agreement import PhotoAgreement, map_agreement
    from vit_gui.images import load_image

    rows, images, kept = [None] * len(paths), [], []
    for k, path in enumerate(paths):
        try:
            images.append(load_image(path).image)
            kept.append(k)
        except VitGuiError as exc:
            rows[k] = PhotoAgreement(str(path), None, None, None, None, None, 0.0, str(exc))
    if images:
        (tops_a, maps_a), (tops_b, maps_b) = (_answers(m, images, kind) for m in (model_a, model_b))
        for n, k in enumerate(kept):
            agreement, seen = map_agreement(*maps_a[n], *maps_b[n])
            rows[k] = PhotoAgreement(str(paths[k]), *_named(tops_a[n]), *_named(tops_b[n]),
                                     None if agreement is None else round(agreement, 6), round(seen, 4))
    return rows


def compare_photos(model_a, model_b, paths: list[Path], kind: str = "rollout", progress=None) -> list:
    """PhotoAgreement for every photo, in the order given (unreadable ones with their error),
    BATCH photos per model run."""
    rows = []
    for start in range(0, len(paths), BATCH):
        rows += compare_batch(model_a, model_b, paths[start:start + BATCH], kind)
        if progress:
            progress(min(start + BATCH, len(paths)), len(paths))
    return rows


def run_compare(args) -> int:
    """Exit codes: 0 every photo compared, 1 some photos could not be read (each with its
    error), 2 nothing could run, 130 interrupted."""
    from vit_gui.explain.agreement import summarise
    from vit_gui.images import find_images
    from vit_gui.predict import Predictor
    from vit_gui.record import json_safe

    try:
        paths = find_images(args.paths)
        if not paths:
            raise ValueError("no photos found in " + ", ".join(str(p) for p in args.paths))
        models = [Predictor.from_file(path, args.device) for path in (args.model_a, args.model_b)]
        say(f"comparing {models[0].info.name} (A) with {models[1].info.name} (B) on {len(paths)} photos")
        rows = compare_photos(*models, paths, args.map_kind, lambda done, total: say(f"compared {done}/{total}"))
    except KeyboardInterrupt:
        say("interrupted: nothing was written")
        return EXIT_INTERRUPTED
    except (VitGuiError, ValueError) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    rows.sort(key=lambda r: r.disagreement())
    records = [{"path": r.path, "top_a": r.top_a, "prob_a": r.prob_a, "top_b": r.top_b, "prob_b": r.prob_b,
                "top1_agree": r.top_agree, "map_agreement": r.maps, "seen_by_both": r.seen_by_both,
                "error": r.error} for r in rows]
    if sys.stdout is not None:
        if args.format == "csv":
            writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in record.items()} for record in records)
        else:
            report = {"a": {"path": str(args.model_a), "name": models[0].info.name},
                      "b": {"path": str(args.model_b), "name": models[1].info.name},
                      "map": args.map_kind, "summary": summarise(rows), "photos": records}
            sys.stdout.write(json.dumps(json_safe(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return EXIT_SOME_FAILED if any(r.error for r in rows) else EXIT_OK

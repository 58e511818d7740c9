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


def compare_photos(model_a, model_b, paths: list[Path], kind: str = "rollout", progress=None) -> list:
    """PhotoAgreement for every photo, in the order given (unreadable ones with their error)."""
    from vit_gui.explain.agreement import PhotoAgreement, map_agreement
    from vit_gui.images import load_image

    rows = []
    for start in range(0, len(paths), BATCH):
        images, kept = [], []
        for path in paths[start:start + BATCH]:
            try:
                images.append(load_image(path).image)
                kept.append(path)
            except VitGuiError as exc:
                rows.append(PhotoAgreement(str(path), None, None, None, None, None, 0.0, str(exc)))
        if images:
            answers = [m.predict(images, top_k=1, with_attentions=kind == "rollout") for m in (model_a, model_b)]
            maps = [_maps(m, images, a, kind) for m, a in zip((model_a, model_b), answers)]
            for k, path in enumerate(kept):
                top_a, top_b = (a[k].top[0] if a[k].top else None for a in answers)
                agreement, seen = map_agreement(*maps[0][k], *maps[1][k])
                rows.append(PhotoAgreement(str(path), *_named(top_a), *_named(top_b),
                                           None if agreement is None else round(agreement, 6), round(seen, 4)))
        if progress:
            progress(min(start + BATCH, len(paths)), len(paths))
    order = {str(p): i for i, p in enumerate(paths)}
    return sorted(rows, key=lambda r: order[r.path])


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

"""`vit-gui teach DATA_DIR...`: teach new classes headlessly, a JSON report out."""

from __future__ import annotations

import json
import sys

from vit_gui.cli.common import EXIT_CANNOT_RUN, EXIT_OK, EXIT_SOME_FAILED, say, writable_folder
from vit_gui.errors import VitGuiError


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
            writable_folder(folder, "-o")
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



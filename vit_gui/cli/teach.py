"""`vit-gui teach DATA_DIR...`: teach new classes headlessly, a JSON report out."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from vit_gui.cli.common import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, say, writable_folder
from vit_gui.errors import VitGuiError

#: classes up to which stdout has the whole confusion matrix; past that, its non-zero cells
#: (2,000 classes printed 4 million counts, 36 MB, one per line)
MAX_PRINTED_MATRIX = 40
#: file names that say "a file" but not the format a taught model is saved in
NOT_SAFETENSORS = (".pth", ".pt", ".bin", ".ckpt", ".json", ".onnx", ".npz", ".h5")


def destination(out: Path | None) -> tuple[Path | None, str | None]:
    """(folder, file stem) that -o names: a .safetensors file, or a folder. A name with
    another model file's ending is refused (it used to become a folder called model.pth)."""
    if out is None:
        return None, None
    if out.suffix.lower() == ".safetensors":
        return out.parent, out.stem
    if out.suffix.lower() in NOT_SAFETENSORS and not out.is_dir():
        raise ValueError(f"-o {out}: a taught model is saved as .safetensors (with its facts beside it); "
                         f"name it {out.with_suffix('.safetensors').name}, or give a folder")
    return out, None


class Progress:
    """Reading photos takes most of the time: a line per photo on a terminal, else one
    every few seconds, each with how long the rest will take."""

    def __init__(self):
        self.started, self.last_said = time.monotonic(), 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == "reading images":
            if done == 0:
                self.started = now
            every = 0.0 if sys.stderr is not None and sys.stderr.isatty() else 5.0
            if done in (0, total) or now - self.last_said >= every:
                self.last_said = now
                left = (now - self.started) / done * (total - done) if done else None
                say(f"{stage}: {done}/{total}" + (f", about {left:.0f} s left" if left is not None and done < total
                                                  else ""))
        elif stage == "training" and done == 0:
            say("training the probe")
        elif stage == "fine-tuning" and (done == total or done % 10 == 0):
            say(f"{stage}: step {done}/{total}")


def run_teach(args) -> int:
    """Exit codes as classify: 0 taught from every image, 1 taught but some images were left
    out (each listed with its reason), 2 nothing could be taught, 130 interrupted (nothing
    saved, nothing half-written)."""
    from vit_gui.cli.signals import sigterm_as_interrupt
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor
    from vit_gui.record import json_safe
    from vit_gui.teach.data import TeachDataError
    from vit_gui.teach.features import TeachCancelled
    from vit_gui.teach.run import teach
    from vit_gui.teach.save import save_taught_model

    try:
        with sigterm_as_interrupt():
            if args.epochs < 1 or not 0 <= args.blocks:
                raise ValueError("--epochs must be at least 1 and --blocks at least 0")
            folder, stem = destination(args.output)
            if folder is not None:
                writable_folder(folder, "-o")
            model_path = args.model or default_model_path()
            say(f"loading {model_path.name} on {args.device}")
            predictor = Predictor.from_file(model_path, args.device)
            name = args.name or stem or args.data[0].name
            taught = teach(args.data, predictor, model_path, args.val_split, args.seed, Progress(),
                           val_folders=[args.val_dir] if args.val_dir else None, mode=args.mode,
                           blocks=min(args.blocks, predictor.info.architecture.depth), epochs=args.epochs,
                           feature=args.feature)
            path = save_taught_model(model_path, predictor.info, taught.digest, taught.dataset.classes,
                                     taught.probe, taught.facts, name, folder, taught.tuned_state, file_stem=stem)
    except KeyboardInterrupt:
        say("interrupted: nothing was saved")
        return EXIT_INTERRUPTED
    except (VitGuiError, ValueError, TeachDataError, TeachCancelled) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    except OSError as exc:
        say(f"error: could not write the model ({exc.strerror or exc})")
        return EXIT_CANNOT_RUN
    for item, why in taught.dataset.skipped:
        say(f"left out {item}: {why}")
    for note in taught.notes:
        say(note)
    classes = taught.dataset.classes
    whole = len(classes) <= MAX_PRINTED_MATRIX
    if not whole:
        say(f"{len(classes)} classes: the confusion matrix is printed as its non-zero cells (confusion_cells), "
            f"not as {len(classes)}×{len(classes)} counts")
    report = {"model": str(path), "classes": classes, "counts": taught.dataset.counts(),
              **taught.facts, **taught.report.to_json(matrix=whole), "worst": taught.worst_items(),
              "skipped": [{"path": str(p), "reason": why} for p, why in taught.dataset.skipped],
              "notes": taught.notes, "weight_decays_tried": taught.probe.history}  # NaN (no validation) becomes null
    if sys.stdout is not None:
        sys.stdout.write(json.dumps(json_safe(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    accuracy = report["validation_accuracy"]
    say(f"saved {path}" + (f" (validation accuracy {accuracy:.1%})" if accuracy is not None else ""))
    return EXIT_SOME_FAILED if taught.dataset.skipped else EXIT_OK

"""`vit-gui audit FOLDER`: how a model decides each class of a folder, headless: findings
in words (or the JSON contract with --format json) on stdout, an HTML page with --report."""

from __future__ import annotations

import json
import sys
import time

from vit_gui.cli.common import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, say, writable_folder
from vit_gui.errors import VitGuiError


class Progress:
    """A line per batch on a terminal, else one every few seconds, with the time left."""

    def __init__(self):
        self.last_said = 0.0

    def __call__(self, done: int, total: int, left: float | None) -> None:
        now = time.monotonic()
        every = 0.0 if sys.stderr is not None and sys.stderr.isatty() else 5.0
        if done == total or now - self.last_said >= every:
            self.last_said = now
            say(f"auditing: {done}/{total} photos" + (f", about {left:.0f} s left" if left and done < total else ""))


def unmapped(report: dict, item: dict) -> bool:
    """A class folder whose name is none of a classifier's classes (its maps then explain each
    photo's own answer, not the class); a backbone (rollout, from any block) has no answer to explain."""
    return not report["map"].startswith("rollout") and item.get("mapped_to", item["name"]) is None


def unmapped_words(name: str) -> str:
    return (f'the model has no class named "{name}": these maps explain the model\'s own answer for each '
            "photo, not this class")


def words(report: dict) -> str:
    """The findings as lines a person reads."""
    lines = [f"map: {report['map']}"] + [f"note: {note}" for note in report.get("notes", [])]
    for item in report["classes"]:
        lines.append(f"{item['name']}: {len(item['photos'])} photos, {len(item['groups'])} group(s) of maps")
        if unmapped(report, item):
            lines.append(f"  - {unmapped_words(item['name'])}")
        lines += [f"  - {finding['words']}" for finding in item["findings"]]
        if not item["findings"]:
            lines.append("  - nothing found that the audit measures")
    return "\n".join(lines) + "\n"


def run_audit(args) -> int:
    """Exit codes: 0 every photo audited, 1 some photos could not be read (each listed with
    its reason), 2 nothing could run, 130 interrupted (nothing written)."""
    try:
        from vit_gui.audit.collect import AuditCancelled
        from vit_gui.audit.run import audit, to_json
    except ImportError as exc:  # the packaged app leaves scipy and scikit-learn out (build.spec)
        say(f"error: the audit needs scikit-learn and scipy, which this copy of vit-gui does not carry ({exc}); "
            "install vit-gui with pip (README) to audit folders")
        return EXIT_CANNOT_RUN
    from vit_gui.cli.signals import sigterm_as_interrupt
    from vit_gui.model.catalog import default_model_path
    from vit_gui.predict import Predictor
    from vit_gui.record import json_safe
    from vit_gui.teach.data import TeachDataError

    try:
        with sigterm_as_interrupt():
            if args.batch_size < 1:
                raise ValueError("--batch-size must be at least 1")
            if args.report is not None:
                writable_folder(args.report, "--report")
            model_path = args.model or default_model_path()
            say(f"loading {model_path.name} on {args.device}")
            predictor = Predictor.from_file(model_path, args.device)
            result = audit(args.folder, predictor, Progress(), batch=args.batch_size, kind=args.map_kind)
            report = json_safe(to_json(result))
            page = None
            if args.report is not None:
                from vit_gui.audit.report import write_report

                page = write_report(result, report, args.report)
    except KeyboardInterrupt:
        say("interrupted: nothing was written")
        return EXIT_INTERRUPTED
    except AuditCancelled as exc:
        say(str(exc))
        return EXIT_INTERRUPTED
    except (VitGuiError, ValueError, TeachDataError) as exc:
        say(f"error: {exc}")
        return EXIT_CANNOT_RUN
    except OSError as exc:
        say(f"error: could not write the report ({exc.strerror or exc})")
        return EXIT_CANNOT_RUN
    for item in report["classes"]:
        if unmapped(report, item):
            say(f"note: {unmapped_words(item['name'])}")
    for failure in report["failed"]:
        say(f"left out {failure['path']}: {failure['reason']}")
    if sys.stdout is not None:
        text = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n" if args.format == "json" \
            else words(report)
        sys.stdout.write(text)
    if page is not None:
        say(f"wrote {page}")
    return EXIT_SOME_FAILED if report["failed"] else EXIT_OK

"""Command line: `vit-gui classify PATH...` classifies images headlessly (JSON or CSV out),
`vit-gui teach` teaches new classes, `vit-gui audit` reads how a model decides a folder's
classes, `vit-gui compare` sets two models side by side, `vit-gui models` lists and
downloads models; one
module per command beside this one, which only dispatches.

Exit codes: 0 every image classified; 1 some images failed (each has its error in the
output, the rest were still classified); 2 nothing could run (no model, bad checkpoint,
CUDA missing, bad arguments).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from vit_gui.cli.audit import run_audit
from vit_gui.cli.classify import run_classify
from vit_gui.cli.common import EXIT_CANNOT_RUN, say
from vit_gui.cli.models import run_models
from vit_gui.cli.parser import build_parser, join_dashed_values
from vit_gui.cli.teach import run_teach

__all__ = ["build_parser", "console_main", "main", "run_classify"]


COMMANDS = ("classify", "models", "teach", "audit", "compare")


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
    args = parser.parse_args(join_dashed_values(argv))
    if args.command == "classify":
        return run_classify(args)
    if args.command == "models":
        return run_models(args)
    if args.command == "teach":
        return run_teach(args)
    if args.command == "audit":
        return run_audit(args)
    if args.command == "compare":
        from vit_gui.cli.compare import run_compare

        return run_compare(args)
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

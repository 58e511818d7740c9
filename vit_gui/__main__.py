"""`python -m vit_gui` and the frozen executables start here."""

import multiprocessing

from vit_gui.cli import console_main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen app must not re-run itself in child processes
    raise SystemExit(console_main())

"""`python -m vit_gui` runs the same entry point as the `vit-gui` command."""

from vit_gui.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

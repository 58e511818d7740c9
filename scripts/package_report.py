"""The packaged app's size by part (torch, Qt, the built-in model, numpy, scipy, scikit-learn, OpenVINO,
Python, the rest), in MB on disk: what scripts/package.sh prints after a build, and what
docs/DEVELOPING.md records before and after the cuts.
Usage: python scripts/package_report.py [dist/vit-gui]
"""

from __future__ import annotations

import sys
from pathlib import Path

PARTS = (("libtorch_cpu", ("torch/lib/libtorch_cpu",)), ("torch, the rest", ("torch/",)),
         ("the built-in model", ("model_data/",)), ("Qt (PySide6)", ("PySide6/", "shiboken6/")),
         ("numpy", ("numpy/", "numpy.libs/")), ("scipy", ("scipy/", "scipy.libs/")),
         ("scikit-learn", ("sklearn/",)), ("OpenVINO", ("openvino/",)), ("matplotlib", ("matplotlib/", "kiwisolver/", "contourpy/")),
         ("Pillow", ("PIL/", "pillow.libs/", "pillow_heif")), ("Python", ("libpython", "python3", "base_library")))


def sizes(root: Path) -> dict[str, int]:
    totals = dict.fromkeys([name for name, _ in PARTS] + ["the rest"], 0)
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        relative = path.relative_to(root).as_posix().removeprefix("_internal/")
        name = next((name for name, prefixes in PARTS if relative.startswith(prefixes)), "the rest")
        totals[name] += path.stat().st_size
    return totals


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "dist/vit-gui")
    totals = sizes(root)
    for name, size in totals.items():
        print(f"{name:<20} {size / 1e6:8.1f} MB")
    print(f"{'total':<20} {sum(totals.values()) / 1e6:8.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

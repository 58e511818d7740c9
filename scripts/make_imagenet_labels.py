"""Regenerate resources/imagenet_classes.txt: ImageNet-1k class names in index order.

Source: the ImageNet info files inside the timm wheel (timm/data/_info/), read as plain
files from the wheel (timm itself is never imported: it cannot be, beside torch 2.13 CPU).
`imagenet_synsets.txt` lists the 1000 WordNet ids in class-index order;
`imagenet_synset_to_lemma.txt` maps each id to its names ("tabby, tabby cat").

Usage: python scripts/make_imagenet_labels.py [path/to/timm-*.whl]
(with no argument, `pip download --no-deps timm` fetches the wheel into a temp folder).
"""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "resources" / "imagenet_classes.txt"
INFO = "timm/data/_info/"


def find_wheel(argv: list[str]) -> Path:
    if argv:
        return Path(argv[0])
    folder = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "timm", "-d", str(folder)], check=True)
    return next(folder.glob("timm-*.whl"))


def class_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        synsets = archive.read(INFO + "imagenet_synsets.txt").decode().split()
        lemmas = dict(
            line.split("\t", 1)
            for line in archive.read(INFO + "imagenet_synset_to_lemma.txt").decode().splitlines()
            if "\t" in line
        )
    if len(synsets) != 1000:
        raise SystemExit(f"expected 1000 ImageNet-1k synsets, found {len(synsets)}")
    return [lemmas[s].strip() for s in synsets]


if __name__ == "__main__":
    wheel = find_wheel(sys.argv[1:])
    names = class_names(wheel)
    OUT.write_text("\n".join(names) + "\n", encoding="utf-8")
    print(f"wrote {len(names)} names from {wheel.name} to {OUT}")

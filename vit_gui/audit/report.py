"""The audit as one self-contained HTML page: every picture embedded (JPEG data), so it
opens in any browser without a server and travels as one file. Written atomically; a file
of that name that is not one of our audit pages is never replaced (the page takes the
first free name audit-N.html instead)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

GENERATOR = '<meta name="generator" content="vit-gui audit">'
THUMB = 112  # pixels on the longer side of a photo shown
SHOWN = 12  # photos shown per group or finding; the JSON lists them all
STYLE = ("body{font-family:sans-serif;margin:2em;max-width:70em}img{margin:2px;vertical-align:top}"
         ".finding{background:#fff4d6;padding:.5em;margin:.5em 0}.note{color:#555}")


def _data(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(image: Image.Image, title: str) -> str:
    return f'<img src="{_data(image)}" title="{html.escape(title)}" alt="{html.escape(title)}">'


class _Photos:
    """Photos read on demand, each once; an unreadable one (moved since) is shown as grey."""

    def __init__(self):
        self.cache: dict[str, Image.Image | None] = {}

    def get(self, path: str) -> Image.Image | None:
        if path not in self.cache:
            from vit_gui.errors import VitGuiError
            from vit_gui.images import load_image

            try:
                image = load_image(path).image
                image.thumbnail((4 * THUMB, 4 * THUMB))
                self.cache[path] = image
            except VitGuiError:
                self.cache[path] = None
        return self.cache[path]

    def thumb(self, path: str, box=None) -> Image.Image:
        image = self.get(path)
        if image is None:
            return Image.new("RGB", (THUMB, THUMB), (200, 200, 200))
        image = image.copy()
        if box is not None:
            w, h = image.size
            ImageDraw.Draw(image).rectangle([box[0] * w, box[1] * h, box[2] * w, box[3] * h], outline=(255, 40, 40),
                                            width=max(2, w // 80))
        image.thumbnail((THUMB, THUMB))
        return image

    def crop(self, path: str, box) -> Image.Image:
        image = self.get(path)
        if image is None:
            return Image.new("RGB", (THUMB // 2, THUMB // 2), (200, 200, 200))
        w, h = image.size
        piece = image.crop((int(box[0] * w), int(box[1] * h), max(int(box[2] * w), int(box[0] * w) + 1),
                            max(int(box[3] * h), int(box[1] * h) + 1)))
        return piece.resize((THUMB * 2 // 3, THUMB * 2 // 3), Image.Resampling.BICUBIC)


def _heat_image(mean_map) -> Image.Image:
    from vit_gui.explain.overlay import colorize

    values = np.asarray(mean_map, np.float64)
    values = values / values.max() if values.max() > 0 else values
    rgb = colorize(values)
    return Image.fromarray(np.asarray(rgb)[..., :3].astype(np.uint8)).resize((THUMB, THUMB), Image.Resampling.NEAREST)


def page(report: dict) -> str:
    """The HTML text of the audit `report` (to_json's dict)."""
    photos = _Photos()
    out = ["<!doctype html><html><head><meta charset='utf-8'>", GENERATOR,
           f"<title>Audit of {html.escape(report['folder'])}</title><style>{STYLE}</style></head><body>",
           f"<h1>Audit of {html.escape(report['folder'])}</h1>",
           f"<p class='note'>Model: {html.escape(str(report['model']))}. Map: {html.escape(report['map'])}. "
           "Findings say what was measured in these photos, not why.</p>"]
    for item in report["classes"]:
        out.append(f"<h2>{html.escape(item['name'])} ({len(item['photos'])} photos)</h2>")
        for finding in item["findings"]:
            out.append(f"<div class='finding'><p>{html.escape(finding['words'])}</p>")
            out += [_img(photos.thumb(p, finding["box"]), p) for p in finding["photos"][:SHOWN]]
            out.append("</div>")
        out.append("<h3>How it decided: photos grouped by their maps</h3>")
        for number, group in enumerate(item["groups"], 1):
            out.append(f"<p>Group {number}: {group['size']} photos; its mean map first</p>")
            out.append(_img(_heat_image(group["mean_map"]), f"group {number}: mean map"))
            out += [_img(photos.thumb(p), p) for p in group["photos"][:SHOWN]]
        if item["parts"]:
            out.append("<h3>What it looked at: parts, by their share of the evidence</h3>")
        for number, part in enumerate(item["parts"], 1):
            elsewhere = part["other_classes"]
            out.append(f"<p>Part {number}: {part['share']:.0%} of the evidence; present in {part['present']:.0%} of "
                       "the photos examined" + ("" if elsewhere is None else
                                                f", in {elsewhere:.0%} of other classes' photos tested") + "</p>")
            out += [_img(photos.crop(c["photo"], c["box"]), c["photo"]) for c in part["crops"]]
    if report["failed"]:
        out.append("<h2>Photos left out</h2><ul>")
        out += [f"<li>{html.escape(f['path'])}: {html.escape(f['reason'])}</li>" for f in report["failed"]]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def is_ours(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return GENERATOR in stream.read(4096)
    except OSError:
        return False


def write_report(result, report: dict, folder: Path) -> Path:
    """DIR/audit.html, replacing only an audit page of ours; else the first free audit-N.html."""
    import os
    import tempfile

    from vit_gui.fileio import atomic_write_text, claim_name, settle

    folder = Path(folder)
    text = page(report)
    target = folder / "audit.html"
    if not target.exists() or (target.is_file() and is_ours(target)):
        return atomic_write_text(target, text)
    fd, staged = tempfile.mkstemp(prefix=".audit.", suffix=".part", dir=folder)
    staged = Path(staged)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        settle(staged, target)
        number = 2
        while not claim_name(staged, folder / f"audit-{number}.html"):
            number += 1
        return folder / f"audit-{number}.html"
    finally:
        staged.unlink(missing_ok=True)

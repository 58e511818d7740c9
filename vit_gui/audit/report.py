"""The audit as one self-contained HTML page: every picture embedded (JPEG data), so it
opens in any browser without a server and travels as one file. Written atomically; a file
of that name that is not one of our audit pages is never replaced (the page takes the
first free name audit-N.html instead)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image

from vit_gui.audit.pictures import KIND_TITLES, draw, maps_read, shortcut_first

GENERATOR = '<meta name="generator" content="vit-gui audit">'
STYLE = ("body{font-family:sans-serif;margin:2em;max-width:75em}img{margin:2px;vertical-align:top}"
         ".finding{background:#fff4d6;border:1px solid #e0c070;border-radius:4px;padding:.5em;margin:.5em 0}"
         ".note{color:#555}figure{display:inline-block;margin:0 .6em .6em 0}figcaption{font-size:90%;color:#333}"
         "h3{font-size:100%;color:#444;font-weight:normal}")


def _data(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(image: Image.Image, title: str) -> str:
    return f'<img src="{_data(image)}" title="{html.escape(title)}" alt="{html.escape(title)}">'


def _figure(image: Image.Image, title: str, caption: str) -> str:
    return f"<figure>{_img(image, title)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'s' if number != 1 else ''}"


def _sentence(words: str) -> str:
    return html.escape(words[:1].upper() + words[1:] + ".")


def page(report: dict, drawn: list) -> str:
    """The HTML text of the audit `report` (run.to_json's dict) with its pictures (`drawn`,
    pictures.draw's, in the order drawn): as the window shows it, pictures first, words
    second; classes not drawn follow in words."""
    out = ["<!doctype html><html><head><meta charset='utf-8'>", GENERATOR,
           f"<title>Shortcut check of {html.escape(report['folder'])}</title><style>{STYLE}</style></head><body>",
           f"<h1>Shortcut check of {html.escape(report['folder'])}</h1>",
           f"<p class='note'>Model: {html.escape(str(report['model']))}. Read from each photo's {html.escape(maps_read(report))}. "
           "Findings say what was measured in these photos, not why: look at the photos they name.</p>"]
    for pictures in drawn:
        item = report["classes"][pictures.index]
        out.append(f"<h2>{html.escape(item['name'])} ({_count(len(item['photos']), 'photo')})</h2>")
        for finding in pictures.findings:
            if finding.kind == "too_few":
                out.append(f"<p class='note'>{_sentence(finding.words)}</p>")
                continue
            out.append(f"<div class='finding'><b>{html.escape(KIND_TITLES.get(finding.kind, finding.kind))}</b><br>")
            out += [_img(thumb, path) for path, thumb in finding.thumbs]
            more = len(finding.photos) - len(finding.thumbs)
            out.append(f"<p>{_sentence(finding.words)}" + (f" The first {len(finding.thumbs)} of its {len(finding.photos)} photos are shown." if more > 0 else "")
                       + "</p></div>")
        if not pictures.findings:
            out.append("<p>Nothing stood out that this check measures.</p>")
        out.append(f"<h3>How it decided: its photos fall into {_count(len(pictures.groups), 'group')} by their maps "
                   "(each group's mean map over its most typical photo)</h3>")
        out += [_figure(group.picture, group.typical, f"group {number}: {_count(group.size, 'photo')}")
                for number, group in enumerate(pictures.groups, 1)]
        if pictures.parts:
            out.append("<h3>What it looked at: parts of its photos, by their share of the evidence (each part's "
                       "best-matching crops)</h3>")
        for number, part in enumerate(pictures.parts, 1):
            elsewhere = "" if part.other_classes is None else f", in {part.other_classes:.0%} of other classes' photos"
            caption = (f"part {number}: {part.share:.0%} of the evidence; present in {part.present:.0%} of the photos "
                       f"examined{elsewhere}")
            out.append("<div>" + "".join(_img(crop, path) for path, crop in part.crops)
                       + f"<br><span class='note'>{html.escape(caption)}</span></div>")
    undrawn = sorted(set(range(len(report["classes"]))) - {p.index for p in drawn})
    if undrawn:
        out.append(f"<h2>{len(undrawn)} more class{'es' if len(undrawn) != 1 else ''}, in words</h2><ul>")
        for index in undrawn:
            item = report["classes"][index]
            words = "; ".join(f["words"] for f in item["findings"]) or "nothing stood out"
            out.append(f"<li>{html.escape(item['name'])} ({_count(len(item['photos']), 'photo')}): "
                       f"{html.escape(words)}</li>")
        out.append("</ul>")
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
    text = page(report, draw(result, report, only=shortcut_first(report)))
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

"""An audit from start to finish: read the folder, run every photo once, then for each class
its groups of maps, its parts and the findings; `to_json` is the contract other tools read."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vit_gui.audit import findings as fd
from vit_gui.audit.collect import AuditCancelled, Collected, Folder, Progress, collect, read_folder
from vit_gui.audit.evidence import CLASSIFIER_MAPS, SIDE, SPOT_MAP, map_name
from vit_gui.audit.groups import Group, group_maps
from vit_gui.audit.parts import OTHER_PHOTOS, Part, find_parts

#: the findings that read the spot map (evidence.SPOT_MAP for a model with classes)
SPOT_KINDS = ("same_spot", "small_spot")


@dataclass
class ClassAudit:
    name: str
    members: list[int]  # indices into Collected's photos
    groups: list[Group]
    parts: list[Part]
    findings: list[fd.Finding]


@dataclass
class Audit:
    folder: Path
    model: str
    map: str
    collected: Collected
    classes: list[ClassAudit]


def audit(folder: Path | Folder, predictor, progress: Progress | None = None,
          cancelled: Callable[[], bool] | None = None, seed: int = 0, batch: int = 8, kind: str = "gradcam",
          root: Path | None = None) -> Audit:
    """`folder`: a folder to read, or photos already read (the Teach window's, as a Folder,
    with `root` naming where they came from). `kind`: the map read for a model with classes
    (evidence.CLASSIFIER_MAPS)."""
    source = folder if isinstance(folder, Folder) else read_folder(folder)
    collected = collect(predictor, source, progress, cancelled, seed, batch, kind)
    if root is None:
        root = Path(folder) if not isinstance(folder, Folder) else common_folder(source.paths)
    return Audit(Path(root), predictor.info.name, map_name(predictor, kind), collected,
                 analyse(collected, seed, cancelled))


def common_folder(paths: list[Path]) -> Path:
    """Where photos already read are, all of them; none (Path()) when they share no folder,
    as photos on two Windows drives do."""
    try:
        return Path(os.path.commonpath(paths)) if paths else Path()
    except ValueError:
        return Path()


def analyse(collected: Collected, seed: int = 0, cancelled: Callable[[], bool] | None = None) -> list[ClassAudit]:
    """Every class that has photos, in the order of `collected.classes`. `cancelled` is asked
    before each class: grouping and parts take seconds a class on a big folder, and a window
    closed meanwhile must not keep the analysis going to the end."""
    labels = np.array(collected.labels, int)
    heats = np.stack([e.heat for e in collected.evidence]) if collected.evidence else np.zeros((0, SIDE, SIDE))
    empty = np.zeros((0, SIDE, SIDE), bool)
    objects = np.stack([e.object for e in collected.evidence]) if collected.evidence else empty
    photos = np.stack([e.photo for e in collected.evidence]) if collected.evidence else empty
    spots = np.stack([e.spot for e in collected.evidence]) if collected.evidence else np.zeros((0, SIDE, SIDE))
    audits = []
    for c, name in enumerate(collected.classes):
        if cancelled is not None and cancelled():
            raise AuditCancelled("the audit was cancelled: nothing was written")
        members = np.flatnonzero(labels == c).tolist()
        if not members:
            continue
        rest = labels != c
        groups = group_maps(heats[members], seed)
        if len(members) < fd.MIN_PHOTOS:
            audits.append(ClassAudit(name, members, groups, [], [fd.too_few(name, len(members))]))
            continue
        parts, sampled = _parts(collected, labels, c, members, seed)
        spot = fd.same_spot(name, spots[members], spots[rest])
        found = [spot or fd.small_spot(name, spots[members], spots[rest]),
                 fd.outside_object(name, heats[members], objects[members], photos[members], heats[rest], objects[rest],
                                   photos[rest]),
                 fd.own_part(name, parts, sampled)]
        audits.append(ClassAudit(name, members, groups, parts, [f for f in found if f is not None]))
    return audits


def _parts(collected: Collected, labels: np.ndarray, c: int, members: list[int], seed: int) -> tuple[list[Part], int]:
    """Parts of class c from its sampled photos (those that kept their tokens), tested
    against up to OTHER_PHOTOS sampled photos of the other classes, taken evenly."""
    evidence = collected.evidence
    local = [k for k, i in enumerate(members) if evidence[i].tokens is not None]
    others_by_class: dict[int, list[int]] = {}
    for i, e in enumerate(evidence):
        if labels[i] != c and e.tokens is not None:
            others_by_class.setdefault(int(labels[i]), []).append(i)
    chosen = []
    while len(chosen) < OTHER_PHOTOS and any(others_by_class.values()):
        for queue in others_by_class.values():
            if queue and len(chosen) < OTHER_PHOTOS:
                chosen.append(queue.pop(0))
    others = [(evidence[i].tokens, evidence[i].photo) for i in chosen]
    sample = [evidence[members[k]] for k in local]
    parts = find_parts([e.tokens for e in sample], [e.photo for e in sample], [e.heat for e in sample], local,
                       others, SIDE, seed)
    return parts, len(local)


def photo_box(box, regions) -> list[float]:
    """A box in the model's view (0..1 of its grid) -> 0..1 of the photo, the median over the
    photos' own placements (they differ only where photos were letterboxed)."""
    converted = []
    for x0, y0, x1, y1 in regions:
        w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
        converted.append([(box[0] - x0) / w, (box[1] - y0) / h, (box[2] - x0) / w, (box[3] - y0) / h])
    return [round(float(v), 4) for v in np.clip(np.median(np.array(converted), axis=0), 0.0, 1.0)]


def to_json(result: Audit) -> dict:
    """The contract: {"classes": [{"name", "photos", "groups", "parts", "findings"}], ...}."""
    paths = [str(p) for p in result.collected.paths]
    regions = [e.region for e in result.collected.evidence]
    classes = []
    for item in result.classes:
        member = item.members.__getitem__  # class-local index -> collected index
        mapped = dict(zip(result.collected.classes, result.collected.mapped_to))
        classes.append({
            "name": item.name,
            "mapped_to": mapped.get(item.name),
            "photos": [paths[i] for i in item.members],
            "groups": [{"size": len(g.members), "photos": [paths[member(k)] for k in g.members],
                        "mean_map": np.round(g.mean_map, 5).tolist()} for g in item.groups],
            "parts": [{"share": round(p.share, 4), "present": round(p.present, 4),
                       "other_classes": None if not np.isfinite(p.other_classes) else round(p.other_classes, 4),
                       "area": round(p.area, 4), "photos": [paths[member(k)] for k in p.decides],
                       "crops": [{"photo": paths[member(k)], "box": photo_box(box, [regions[member(k)]])}
                                 for k, box in p.crops]} for p in item.parts],
            "findings": [_finding_json(f, item, paths, regions, result.map) for f in item.findings],
        })
    return {"folder": str(result.folder), "model": result.model, "map": result.map, "spot_map": spot_map(result.map),
            "classes": classes,
            "failed": [{"path": str(p), "reason": why} for p, why in result.collected.failed],
            "seconds": round(result.collected.seconds, 2), "notes": list(result.collected.notes)}


def spot_map(kind: str) -> str:
    """The map the spot findings read when the audit's map is `kind` (evidence.SPOT_MAP for a
    model with classes)."""
    return SPOT_MAP if kind in CLASSIFIER_MAPS else kind


def _finding_json(finding: fd.Finding, item: ClassAudit, paths: list[str], regions: list, kind: str) -> dict:
    members = [item.members[k] for k in finding.photos]
    box = None if finding.box is None else photo_box(finding.box, [regions[i] for i in members] or regions[:1])
    group = None
    if finding.kind != "too_few" and item.groups:
        counts = [len(set(g.members) & set(finding.photos)) for g in item.groups]
        group = int(np.argmax(counts))
    return {"kind": finding.kind, "share": None if finding.share is None else round(finding.share, 4), "box": box,
            "photos": [paths[i] for i in members], "words": finding.words,
            "elsewhere": None if finding.elsewhere is None else round(finding.elsewhere, 4), "group": group,
            "map": None if finding.kind == "too_few" else spot_map(kind) if finding.kind in SPOT_KINDS else kind,
            **finding.details}

"""The audit's pictures, drawn once from its result and read by both the window and the HTML
page: flagged photos with the finding's box, each group's mean map over its most typical
photo, and each part's best crops. Pure PIL: no Qt, so it runs on a worker thread and in
tests without a display.

A group's mean map is drawn over the member whose own map is nearest the mean (its most
typical photo), cropped to where that photo sits in the model's view, so the colours land
on the photo, not on letterbox bars.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

THUMB = 112  # pixels on the longer side of a photo shown
SHOWN = 12  # photos shown per group or finding; the JSON lists them all
BOX_COLOUR = (255, 40, 40)
MISSING = (200, 200, 200)  # a photo moved or deleted since the audit
#: photos kept read while drawing (each at most 448 x 448, 0.6 MB): memory stays ~40 MB for
#: any folder, where keeping every photo read took 0.6 MB a photo
KEPT_PHOTOS = 64
DIMMED = 0.35  # brightness left where a group's mean map is coldest: its hot part stands out at thumbnail size
#: the map the audit read (its JSON "map"), in words
MAP_WORDS = {"gradcam": "Grad-CAM", "class": "class evidence (Chefer et al.)"}
#: each finding's kind (findings.Finding.kind) as a title over its pictures
KIND_TITLES = {"same_spot": "Same spot", "small_spot": "One small spot", "outside_object": "Outside the object",
               "own_part": "A part of its own"}


class Photos:
    """Photos read on demand, each once, kept small; an unreadable one is drawn grey."""

    def __init__(self, size: int = THUMB, kept: int = KEPT_PHOTOS):
        self.size, self.kept = size, kept
        self.cache: OrderedDict[str, Image.Image | None] = OrderedDict()

    def get(self, path: str) -> Image.Image | None:
        """The photo at up to 4 thumbnails' side; the last `kept` photos stay in memory
        (a class's crops come from a few photos, read again and again)."""
        if path in self.cache:
            self.cache.move_to_end(path)
            return self.cache[path]
        from vit_gui.errors import VitGuiError
        from vit_gui.images import load_image

        try:
            image = load_image(path).image.convert("RGB")
            image.thumbnail((4 * self.size, 4 * self.size))
        except VitGuiError:
            image = None
        self.cache[path] = image
        if len(self.cache) > self.kept:
            self.cache.popitem(last=False)
        return image

    def thumb(self, path: str, box=None) -> Image.Image:
        """The photo, with `box` (0..1 of the photo) drawn on it when given."""
        image = self.get(path)
        if image is None:
            return Image.new("RGB", (self.size, self.size), MISSING)
        image = image.copy()
        if box is not None:
            w, h = image.size
            ImageDraw.Draw(image).rectangle([box[0] * w, box[1] * h, box[2] * w, box[3] * h], outline=BOX_COLOUR,
                                            width=max(2, w // 60))
        return self.fit(image)

    def fit(self, image: Image.Image) -> Image.Image:
        """Longer side `size`, small photos enlarged too (pictures line up in a row)."""
        scale = self.size / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)

    def crop(self, path: str, box) -> Image.Image:
        """The `box` (0..1 of the photo) cut out, at two thirds of a thumbnail."""
        side = self.size * 2 // 3
        image = self.get(path)
        if image is None:
            return Image.new("RGB", (side, side), MISSING)
        w, h = image.size
        piece = image.crop((int(box[0] * w), int(box[1] * h), max(int(box[2] * w), int(box[0] * w) + 1),
                            max(int(box[3] * h), int(box[1] * h) + 1)))
        return piece.resize((side, side), Image.Resampling.BICUBIC)

    def map_over(self, path: str, heat: np.ndarray, region, opacity: float = 0.55) -> Image.Image:
        """`heat` (side x side, over the model's view) drawn over the photo: the cells of
        `region` (0..1 of the view, where the photo sits) stretched over the photo, the cold
        parts dimmed and the hot ones tinted, so a spot reads at 112 pixels."""
        from vit_gui.explain.overlay import colorize

        image = self.get(path)
        values = np.asarray(heat, np.float32)
        values = values / values.max() if values.max() > 0 else values
        fine = np.asarray(Image.fromarray(values).resize((224, 224), Image.Resampling.BILINEAR))
        x0, y0, x1, y1 = (int(round(v * 224)) for v in region)
        fine = fine[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
        if image is None:
            image = Image.new("RGB", (self.size, self.size), MISSING)
        image = self.fit(image)
        fine = np.asarray(Image.fromarray(np.clip(fine, 0, 1).astype(np.float32)).resize(image.size,
                                                                                           Image.Resampling.BILINEAR))
        heat = np.clip(fine, 0, 1)[..., None]
        lit = np.asarray(image, np.float32) * (DIMMED + (1 - DIMMED) * heat)  # a spotlight: cold parts dimmed
        alpha = opacity * heat  # ... and hot parts tinted by the colour map
        blended = (1 - alpha) * lit + alpha * colorize(fine).astype(np.float32)
        return Image.fromarray(blended.round().clip(0, 255).astype(np.uint8))


@dataclass
class GroupPicture:
    size: int
    picture: Image.Image  # the mean map over the most typical photo
    typical: str  # that photo's path
    photos: list[str]


@dataclass
class PartPicture:
    share: float
    present: float
    other_classes: float | None
    crops: list[tuple[str, Image.Image]]  # (photo, crop)


@dataclass
class FindingPicture:
    kind: str
    words: str
    photos: list[str]  # every photo the finding concerns (the window can open them all)
    thumbs: list[tuple[str, Image.Image]]  # the first SHOWN, with the finding's box


@dataclass
class ClassPictures:
    index: int  # the class's place in the report's "classes"
    name: str
    count: int
    findings: list[FindingPicture] = field(default_factory=list)
    groups: list[GroupPicture] = field(default_factory=list)
    parts: list[PartPicture] = field(default_factory=list)


def map_words(name: str) -> str:
    return MAP_WORDS.get(name, "rollout" if name.startswith("rollout") else name)


def maps_read(report: dict) -> str:
    """Which map each finding read, in words: "Grad-CAM map (groups, parts, outside the
    object) and its class evidence (Chefer et al.) map (the spots)", or one map's name."""
    spots = report.get("spot_map")
    if spots and spots != report["map"]:
        return (f"{map_words(report['map'])} map (groups, parts, outside the object) and its {map_words(spots)} "
                "map (the spots)")
    return f"{map_words(report['map'])} map"


def typical(heats: np.ndarray, mean_map: np.ndarray) -> int:
    """The index of the map nearest the mean (squared distance)."""
    return int(np.argmin(((heats - mean_map[None]) ** 2).reshape(len(heats), -1).sum(axis=1)))


def shortcut_first(report: dict) -> list[int]:
    """The report's classes in the order a reader needs them: those with a shortcut finding
    first (most photos concerned first), then the rest by their number of photos."""
    def key(index: int):
        item = report["classes"][index]
        concerned = max((len(f["photos"]) for f in item["findings"] if f["kind"] in KIND_TITLES), default=-1)
        return (concerned < 0, -concerned, -len(item["photos"]), index)

    return sorted(range(len(report["classes"])), key=key)


def draw(result, report: dict, photos: Photos | None = None, cancelled=None,
         only: list[int] | None = None) -> list[ClassPictures]:
    """The pictures of the classes `only` names (indices into the report's classes, in that
    order; default: every class, in the report's order), from the Audit `result` and its
    JSON `report` (run.to_json)."""
    photos = photos or Photos()
    evidence = result.collected.evidence
    drawn = []
    for index in range(len(report["classes"])) if only is None else only:
        if cancelled is not None and cancelled():
            break
        audit_class, item = result.classes[index], report["classes"][index]
        pictures = ClassPictures(index, item["name"], len(item["photos"]))
        for finding in item["findings"]:
            thumbs = [] if finding["kind"] == "too_few" else \
                [(p, photos.thumb(p, finding["box"])) for p in finding["photos"][:SHOWN]]
            pictures.findings.append(FindingPicture(finding["kind"], finding["words"], finding["photos"], thumbs))
        for group, shown in zip(audit_class.groups, item["groups"]):
            members = [audit_class.members[k] for k in group.members]
            chosen = members[typical(np.stack([evidence[i].heat for i in members]), group.mean_map)]
            path = str(result.collected.paths[chosen])
            pictures.groups.append(GroupPicture(len(members), photos.map_over(path, group.mean_map,
                                                                               evidence[chosen].region),
                                                path, shown["photos"]))
        for part in item["parts"]:
            pictures.parts.append(PartPicture(part["share"], part["present"], part["other_classes"],
                                              [(c["photo"], photos.crop(c["photo"], c["box"])) for c in part["crops"]]))
        drawn.append(pictures)
    return drawn

"""Known answers for the audit on the real built-in DINOv2 backbone (issue #30): a probe is
taught on folders with planted evidence, then the audit must find what was planted.

Crops of one photo are not independent: the folders are cut from the 8 real photos the stack
ships, so 24 marked crops come from 8 pictures; benchmarks/audit.py measures these cases
again with other seeds, the logo at random spots, and the false alarms on clean folders."""

import pytest

from vit_gui.audit import known
from vit_gui.explain.planted import real_photos

SHORTCUTS = {"same_spot", "small_spot", "outside_object", "own_part"}


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    from conftest import REAL_CACHE
    from test_real_backbone import builtin_model_script

    from vit_gui.predict import Predictor

    path = builtin_model_script().build(tmp_path_factory.mktemp("builtin"), REAL_CACHE / "vit-gui")
    return path, Predictor.from_file(path)


@pytest.fixture(scope="module")
def photos():
    return real_photos()


def audited(backbone, folder, kind="gradcam"):
    from vit_gui.audit.run import audit, to_json

    path, predictor = backbone
    model, accuracy = known.teach_probe(predictor, path, folder)
    assert accuracy >= 0.9  # the probe learned the planted difference
    return {c["name"]: c for c in to_json(audit(folder.root, model, kind=kind))["classes"]}


def inside(box, x, y) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def test_a_logo_at_one_spot_is_found_there(backbone, photos, tmp_path):
    folder = known.planted_logo(tmp_path, photos, per_photo=6, fixed=True)
    classes = audited(backbone, folder)
    marked, plain = classes["marked"], classes["plain"]
    assert len(marked["photos"]) == len(plain["photos"]) == 24
    [finding] = [f for f in marked["findings"] if f["kind"] == "same_spot"]
    assert sum(p in finding["photos"] for p in marked["photos"]) / 24 >= 0.9
    x0, y0, x1, y1 = known.FIXED_SPOT[0], known.FIXED_SPOT[1], known.FIXED_SPOT[0] + 56, known.FIXED_SPOT[1] + 56
    assert inside(finding["box"], (x0 + x1) / 2 / 224, (y0 + y1) / 2 / 224)  # the box holds the logo's centre
    top = marked["parts"][0]  # the part with most of the evidence shows the logo
    centres = [((c["box"][0] + c["box"][2]) / 2 * 224, (c["box"][1] + c["box"][3]) / 2 * 224) for c in top["crops"]]
    assert sum(x0 - 7 <= x <= x1 + 7 and y0 - 7 <= y <= y1 + 7 for x, y in centres) >= 0.8 * len(centres)
    assert not SHORTCUTS & {f["kind"] for f in plain["findings"]}


def test_objects_on_one_background_are_found_outside_the_object(backbone, photos, tmp_path):
    folder = known.planted_background(tmp_path, photos, per_photo=3)
    classes = audited(backbone, folder)
    [finding] = [f for f in classes["grass"]["findings"] if f["kind"] == "outside_object"]
    assert finding["share"] >= 0.9 and finding["elsewhere"] <= finding["share"] - 0.3
    assert not SHORTCUTS & {f["kind"] for f in classes["scene"]["findings"]}


def test_a_clean_folder_has_no_shortcut_finding(backbone, photos, tmp_path):
    """Classes that differ by their pictures only (4 photos each, nothing planted): no
    shortcut finding in either; one of the clean folders benchmarks/audit.py measures."""
    folder = known.clean(tmp_path, photos, known.random_split(photos, 100), per_photo=6, seed=100)
    classes = audited(backbone, folder)
    assert sorted(len(c["photos"]) for c in classes.values()) == [24, 24]
    for item in classes.values():
        assert not SHORTCUTS & {f["kind"] for f in item["findings"]}, item["findings"]


def test_a_logo_at_random_spots_is_found_with_the_default_map(backbone, photos, tmp_path):
    """Grad-CAM is the default map; the spot findings read the class evidence map, which keeps
    to the logo wherever it is (benchmarks/results/audit.md): one small spot, on the logo."""
    import numpy as np

    from vit_gui.audit import findings as fd
    from vit_gui.audit.run import audit

    path, predictor = backbone
    folder = known.planted_logo(tmp_path, photos, per_photo=6, fixed=False)
    model, accuracy = known.teach_probe(predictor, path, folder)
    assert accuracy >= 0.9
    result = audit(folder.root, model)
    assert result.map == "gradcam"
    classes = {c.name: c for c in result.classes}
    marked = classes["marked"]
    [finding] = [f for f in marked.findings if f.kind in ("small_spot", "same_spot")]
    assert len(finding.photos) >= 0.9 * len(marked.members) == 0.9 * 24
    _, corners = fd.spot_mass(np.stack([result.collected.evidence[marked.members[k]].spot for k in finding.photos]))
    on_logo = 0
    for k, (row, col) in zip(finding.photos, corners * 14):  # the spot's box, in the scene's pixels
        x0, y0, x1, y1 = folder.boxes[str(result.collected.paths[marked.members[k]])]
        on_logo += col < x1 and col + 56 > x0 and row < y1 and row + 56 > y0
    assert on_logo >= 0.9 * len(finding.photos)  # the spot is the logo
    assert not SHORTCUTS & {f.kind for f in classes["plain"].findings}

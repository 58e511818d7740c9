"""Known answers (issue #29, item 6): planted evidence on real photos, and the two measures of
whether a map finds it (share of the map on the evidence, pointing game)."""

import numpy as np
import pytest

from vit_gui.explain.planted import (
    MARK_SIZE,
    SCENE_SIZE,
    flat_share,
    mark,
    points_at_box,
    real_photos,
    scenes,
    share_on_box,
)


@pytest.fixture(scope="module")
def photos():
    return real_photos()


def test_the_photos_are_distinct_real_photos(photos):
    assert len(photos) == 8
    small = {name: np.asarray(__import__("PIL.Image").Image.fromarray(p).resize((32, 32)), float)
             for name, p in photos.items()}
    names = sorted(small)
    for i, a in enumerate(names):  # no two are the same picture (cat and chelsea would be)
        for b in names[i + 1:]:
            assert np.abs(small[a] - small[b]).mean() > 10, (a, b)


def test_scenes_carry_the_logo_exactly_where_their_box_says(photos):
    made = scenes(photos, per_photo=4, seed=3)
    assert len(made) == 32 and sum(s.marked for s in made) == 16
    logo = np.asarray(mark())
    opaque = logo[..., 3] == 255
    for scene in made:
        pixels = np.asarray(scene.image)
        assert scene.image.size == (SCENE_SIZE, SCENE_SIZE)
        if scene.marked:
            x0, y0, x1, y1 = scene.box
            assert (x1 - x0, y1 - y0) == (MARK_SIZE, MARK_SIZE) and 0 <= x0 and x1 <= SCENE_SIZE
            assert np.array_equal(pixels[y0:y1, x0:x1][opaque], logo[..., :3][opaque])
        else:
            assert scene.box is None
    boxes = {s.box for s in made if s.marked}
    assert len(boxes) == 16  # random places, not one spot


def test_share_and_pointing_on_hand_made_maps():
    box = (50, 60, 106, 116)
    on_box = np.zeros((SCENE_SIZE, SCENE_SIZE))
    on_box[60:116, 50:106] = 1.0
    assert share_on_box(on_box, box) == pytest.approx(1.0) and points_at_box(on_box, box)
    flat = np.ones((SCENE_SIZE, SCENE_SIZE))
    assert share_on_box(flat, box) == pytest.approx(flat_share(box)) == pytest.approx(56 * 56 / 224**2)
    far = np.zeros((SCENE_SIZE, SCENE_SIZE))
    far[200, 10] = 1.0
    assert share_on_box(far, box) == 0.0 and not points_at_box(far, box)
    near = np.zeros((SCENE_SIZE, SCENE_SIZE))
    near[50, 110] = 1.0  # within one patch (14 px) of the box: a hit, as the pointing game allows
    assert points_at_box(near, box) and not points_at_box(near, box, tolerance=0)
    negative = -on_box  # negative evidence is not mass
    assert share_on_box(negative, box) == 0.0


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    from conftest import REAL_CACHE
    from test_real_backbone import builtin_model_script

    from vit_gui.predict import Predictor

    path = builtin_model_script().build(tmp_path_factory.mktemp("builtin"), REAL_CACHE / "vit-gui")
    return path, Predictor.from_file(path)


@pytest.fixture(scope="module")
def planted_probe(backbone, photos):
    """A probe taught "marked" on scenes of six photos; the scenes of the other two (coffee,
    rocket) are held out: (model, probe, scenes, features, held-out mask)."""
    from vit_gui.predict import Predictor
    from vit_gui.teach.probe import train_probe
    from vit_gui.teach.save import taught_model, taught_sidecar

    base_path, predictor = backbone
    made = scenes(photos, per_photo=8, seed=1)
    features = np.stack([p.features for p in predictor.predict([s.image for s in made])])
    labels = np.array([int(s.marked) for s in made])
    held = np.array([s.photo in {"coffee", "rocket"} for s in made])
    probe = train_probe(features[~held], labels[~held], features[~held], labels[~held], 2)
    model = Predictor(taught_model(base_path, predictor.info, probe,
                                   taught_sidecar(base_path, predictor.info, "planted", ["plain", "marked"], {},
                                                  "planted")))
    return model, probe, made, features, labels, held


def marked_right(planted_probe) -> list:
    model, probe, made, features, labels, held = planted_probe
    return [made[i] for i in np.flatnonzero(held) if made[i].marked and probe.predict(features[i:i + 1])[0] == 1]


def test_a_probe_learns_the_planted_logo_and_class_evidence_points_at_it(planted_probe):
    """The known answer end to end, on photos the probe never saw: taught on scenes of six
    photos, judged on scenes of the other two. The logo decided "marked", so the class
    evidence map must put far more of its mass on the logo than a flat map does (measured by
    benchmarks/planted.py over 8 photos: 0.46 against 0.06)."""
    from vit_gui.explain.maps import MapSpec
    from vit_gui.explain.overlay import heat_on_image

    model, probe, made, features, labels, held = planted_probe
    assert (probe.predict(features[held]) == labels[held]).mean() >= 0.75  # learned on other photos
    shares, flat = [], []
    for scene in marked_right(planted_probe):
        grid_map, geometry = model.gradient_map(scene.image, MapSpec("class", class_index=1))
        heat, _ = heat_on_image(grid_map, geometry)
        shares.append(share_on_box(heat, scene.box))
        flat.append(flat_share(scene.box))
    assert len(shares) >= 4, len(shares)
    assert np.mean(shares) > 3 * np.mean(flat), (shares, flat)


def box_map(box, patch: int = 14, grid: int = 16) -> np.ndarray:
    """1 on the patches a pixel box covers, 0 elsewhere."""
    x0, y0, x1, y1 = box
    values = np.zeros((grid, grid))
    values[y0 // patch : -(-y1 // patch), x0 // patch : -(-x1 // patch)] = 1.0
    return values


def test_the_check_calls_a_map_on_the_logo_faithful_and_one_beside_it_not(planted_probe):
    """Item 6: the check must call faithful the maps that find the planted evidence and not
    those that miss it. On held-out marked scenes: a map lit exactly on the logo's patches is
    faithful (p <= 0.05); the same map lit on a box as large as far from the logo as the
    scene allows is not."""
    from vit_gui.explain.faithfulness import check_map

    model = planted_probe[0]
    scenes_right = marked_right(planted_probe)[:2]
    assert len(scenes_right) == 2
    for scene in scenes_right:
        x0, y0 = scene.box[:2]  # the decoy: in the opposite corner of the scene
        far = (0 if x0 >= SCENE_SIZE / 2 else SCENE_SIZE - MARK_SIZE, 0 if y0 >= SCENE_SIZE / 2 else SCENE_SIZE - MARK_SIZE)
        truth = check_map(model, scene.image, box_map(scene.box), class_index=1)
        decoy = check_map(model, scene.image, box_map((*far, far[0] + MARK_SIZE, far[1] + MARK_SIZE)), class_index=1)
        assert truth.verdict == "faithful", (scene.box, truth.p_value, truth.standing)
        assert decoy.verdict == "not shown to be faithful", (scene.box, far, decoy.p_value)

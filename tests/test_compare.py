"""Two models side by side, headless (issue #31 item 2): the agreement measures against scipy,
maps compared on the photo whatever the models' grids and crops, and `vit-gui compare` on two
small models with a known disagreement (one is the other with two class rows swapped)."""

import copy
import csv
import io
import json

import numpy as np
import pytest
import scipy.stats
import torch
from PIL import Image

from vit_gui.explain.agreement import average_ranks, map_agreement, rank_correlation, summarise, wilson
from vit_gui.preprocess import Geometry


def test_ranks_and_rank_correlation_match_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 6, size=50).astype(float)  # many ties
        b = a + rng.normal(scale=2.0, size=50)
        np.testing.assert_allclose(average_ranks(a), scipy.stats.rankdata(a))
        assert rank_correlation(a, b) == pytest.approx(scipy.stats.spearmanr(a, b).statistic, abs=1e-12)
    assert rank_correlation(np.ones(5), np.arange(5.0)) is None  # a flat map has no order


def test_wilson_interval_matches_scipy():
    for k, n in ((8, 10), (0, 7), (30, 30), (412, 500)):
        low, high = scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((low, high), abs=1e-6)


def grid_map(geometry: Geometry, cells: int, field) -> np.ndarray:
    """A model's map of `field` (a function of the photo's x, y): each cell holds the field at
    the cell centre's place on the photo, as that model sees it."""
    height, width = geometry.input_size
    values = np.zeros((cells, cells))
    for r in range(cells):
        for c in range(cells):
            values[r, c] = field(*geometry.to_image((c + 0.5) * width / cells, (r + 0.5) * height / cells))
    return values


def test_maps_of_two_grids_and_crops_are_compared_on_the_photo():
    def field(x, y):
        return np.exp(-((x - 80) ** 2 + (y - 40) ** 2) / 800)

    crop = Geometry((200, 100), (224, 224), (50.0, 0.0, 150.0, 100.0))  # ViT-B/16: the centre square, 14 x 14
    letterbox = Geometry((200, 100), (518, 518), (0.0, -50.0, 200.0, 150.0))  # DINOv2 /14: the whole photo, 37 x 37
    a, b = grid_map(crop, 14, field), grid_map(letterbox, 37, field)
    same, seen = map_agreement(a, crop, b, letterbox)
    assert same > 0.95 and seen == pytest.approx(0.5, abs=0.03)  # only the centre square is seen by both
    opposite, _ = map_agreement(a, crop, grid_map(letterbox, 37, lambda x, y: -field(x, y)), letterbox)
    assert opposite < -0.95


@pytest.fixture
def swapped(tmp_path, tiny_hf, tiny_checkpoint, photos):
    """Model B: model A with the class rows of A's answer on chelsea and of label 7 swapped."""
    from conftest import write_checkpoint

    from vit_gui.images import load_image
    from vit_gui.predict import Predictor

    folder = tmp_path / "photos"
    folder.mkdir()
    for name, pixels in photos.items():
        Image.fromarray(pixels).save(folder / f"{name}.png")
    answers = {name: Predictor.from_file(tiny_checkpoint).predict([load_image(folder / f"{name}.png").image])[0]
               .top[0].index for name in photos}
    i = answers["chelsea"]
    j = 7 if i != 7 else 8
    model = copy.deepcopy(tiny_hf)
    with torch.no_grad():
        for tensor in (model.classifier.weight, model.classifier.bias):
            tensor[[i, j]] = tensor[[j, i]].clone()
    (tmp_path / "b").mkdir()
    b = write_checkpoint(model, tmp_path / "b", name="b.pth",
                         sidecar={"num_heads": 3, "labels": [f"label {k}" for k in range(10)], "name": "swapped"})
    changed = {name for name, answer in answers.items() if answer in (i, j)}
    return folder, b, changed


def run(capsys, *argv):
    from vit_gui.cli import main

    code = main(["compare", *map(str, argv)])
    out = capsys.readouterr().out
    return code, out


def test_compare_finds_the_known_disagreements_and_equal_maps(capsys, tiny_checkpoint, swapped):
    folder, b, changed = swapped
    code, out = run(capsys, tiny_checkpoint, b, folder)
    report = json.loads(out)
    assert code == 0 and report["summary"]["photos"] == 4 and "chelsea" in changed and len(changed) < 4
    disagree = {p["path"].rsplit("/", 1)[-1][:-4] for p in report["photos"] if p["top1_agree"] is False}
    assert disagree == changed  # exactly the photos whose answer was one of the swapped classes
    order = [p["top1_agree"] for p in report["photos"]]
    assert order == sorted(order)  # disagreements first
    assert all(p["map_agreement"] == pytest.approx(1.0) for p in report["photos"])  # the head does not move rollout
    summary = report["summary"]
    assert summary["top1_disagreements"] == len(changed) and summary["top1_compared"] == 4
    assert summary["top1_agreement"] == pytest.approx((4 - len(changed)) / 4)
    low, high = summary["top1_agreement_interval"]
    assert low <= summary["top1_agreement"] <= high


def test_class_evidence_follows_the_swapped_class_and_csv_has_a_row_a_photo(capsys, tiny_checkpoint, swapped):
    folder, b, changed = swapped
    code, out = run(capsys, tiny_checkpoint, b, folder, "--map", "class", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 4 and rows[0]["top1_agree"] == "False"
    # B's logit for the swapped class is A's for the original: the same evidence, on every photo
    assert all(float(r["map_agreement"]) == pytest.approx(1.0, abs=1e-6) for r in rows)


def test_an_unreadable_photo_is_reported_beside_the_rest(capsys, tiny_checkpoint, swapped):
    folder, b, _ = swapped
    (folder / "broken.jpg").write_bytes(b"not a photo")
    code, out = run(capsys, tiny_checkpoint, b, folder)
    report = json.loads(out)
    [broken] = [p for p in report["photos"] if p["error"]]
    assert code == 1 and broken["path"].endswith("broken.jpg") and report["summary"]["failed"] == 1
    assert summarise([])["top1_agreement"] is None

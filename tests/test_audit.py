"""The audit's pieces on made maps and tokens whose answer is known, and the command end to
end on a tiny model with real photos (issue #30)."""

import json

import numpy as np
import pytest
import torch

from vit_gui.audit import findings as fd
from vit_gui.audit.evidence import SIDE, class_rows, first_component, object_estimate
from vit_gui.audit.groups import group_maps
from vit_gui.audit.parts import find_parts


def blob(row: float, col: float, width: float = 1.5) -> np.ndarray:
    """A unit-mass map with one Gaussian bump at (row, col)."""
    r, c = np.mgrid[:SIDE, :SIDE]
    heat = np.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * width**2))
    return (heat / heat.sum()).astype(np.float32)


def spread(rng, count: int, width: float = 3.0) -> np.ndarray:
    """Maps peaked at random places over the middle of the photo (objects, no planted spot)."""
    return np.stack([blob(*rng.uniform(3, 12, 2), width) for _ in range(count)])


def test_the_same_spot_is_found_and_measured_against_the_other_classes():
    rng = np.random.default_rng(0)
    marked = np.concatenate([np.stack([blob(3 + rng.normal(0, .3), 12 + rng.normal(0, .3)) for _ in range(23)]),
                             np.stack([blob(12, 3), blob(13, 2)])])  # 23 of 25 on one spot
    plain = spread(rng, 25)
    finding = fd.same_spot("marked", marked, plain)
    assert finding is not None and finding.kind == "same_spot"
    assert finding.share == pytest.approx(23 / 25) and set(finding.photos) == set(range(23))
    x0, y0, x1, y1 = finding.box
    assert x0 <= 12 / SIDE < x1 and y0 <= 3 / SIDE < y1  # the box holds the spot
    assert "92%" in finding.words or "96%" in finding.words
    assert "biased" not in finding.words
    assert fd.same_spot("plain", plain, marked) is None  # the unmarked class is quiet


def test_a_spot_shared_by_every_class_is_no_finding():
    """Objects sit in the middle of most photos: that is where every class's evidence is."""
    rng = np.random.default_rng(1)
    a = np.stack([blob(7.5 + rng.normal(0, .5), 7.5 + rng.normal(0, .5)) for _ in range(30)])
    b = np.stack([blob(7.5 + rng.normal(0, .5), 7.5 + rng.normal(0, .5)) for _ in range(30)])
    assert fd.same_spot("a", a, b) is None and fd.small_spot("a", a, b) is None


def test_one_small_spot_wherever_it_is():
    rng = np.random.default_rng(2)
    marked = np.stack([blob(*rng.uniform(2, 13, 2), 0.8) for _ in range(20)])  # a tight spot, anywhere
    plain = spread(rng, 20, 4.0)
    assert fd.same_spot("marked", marked, plain) is None  # not one place
    finding = fd.small_spot("marked", marked, plain)
    assert finding is not None and finding.share == 1.0 and len(finding.photos) == 20
    assert fd.small_spot("plain", plain, marked) is None


def test_evidence_outside_the_object():
    rng = np.random.default_rng(3)
    objects = np.zeros((20, SIDE, SIDE), bool)
    objects[:, 5:11, 5:11] = True  # the object in the middle
    background = np.stack([blob(*rng.choice([1.5, 13.5], 2)) for _ in range(20)])  # evidence in the corners
    on_object = np.stack([blob(*rng.uniform(6, 9, 2)) for _ in range(20)])
    photos = np.ones((20, SIDE, SIDE), bool)
    finding = fd.outside_object("cow", background, objects, photos, on_object, objects, photos)
    assert finding is not None and finding.share == 1.0 and "outside the main object" in finding.words
    assert fd.outside_object("horse", on_object, objects, photos, background, objects, photos) is None
    touching = objects.copy()
    touching[:, :, 0:11] = True  # an "object" that runs into the border does not stand out
    assert fd.outside_object("cow", background, touching, photos, on_object, objects, photos) is None


def test_too_few_photos_say_so():
    finding = fd.too_few("cat", 7)
    assert finding.kind == "too_few" and "too few to tell" in finding.words and len(finding.photos) == 7


def test_maps_fall_into_their_groups():
    """Two kinds of maps (left, right), the eigengap must find two groups with the right members."""
    rng = np.random.default_rng(4)
    left = [blob(rng.uniform(5, 10), rng.uniform(1, 3)) for _ in range(15)]
    right = [blob(rng.uniform(5, 10), rng.uniform(12, 14)) for _ in range(12)]
    groups = group_maps(np.stack(left + right))
    assert [len(g.members) for g in groups] == [15, 12]
    assert sorted(groups[0].members) == list(range(15)) and sorted(groups[1].members) == list(range(15, 27))
    assert groups[0].mean_map[:, :8].sum() > 0.9  # the mean map of the left group is on the left
    assert len(group_maps(np.stack(left[:6]))) == 1  # too few to split


def test_batched_class_rows_match_chefer_one_photo_at_a_time():
    from vit_gui.explain.rollout import class_relevance

    torch.manual_seed(0)
    attn = torch.softmax(torch.randn(3, 4, 2, 17, 17), dim=-1)
    grads = torch.randn(3, 4, 2, 17, 17)
    rows = class_rows(attn, grads)
    for b in range(3):
        expected = class_relevance(attn[b], grads[b], (4, 4), 1)
        got = rows[b, 1:].reshape(4, 4).numpy()
        got = (got - got.min()) / (got.max() - got.min())
        assert np.allclose(got, expected, atol=1e-5)


def test_batched_gradcam_matches_one_photo_at_a_time(tiny_checkpoint, photos):
    """The audit's maps for a batch are the maps the window shows for each photo alone."""
    from PIL import Image

    from vit_gui.audit.evidence import Evidence, to_side
    from vit_gui.explain.maps import MapSpec
    from vit_gui.predict import Predictor

    predictor = Predictor.from_file(tiny_checkpoint)
    images = [Image.fromarray(photos[name]) for name in ("chelsea", "coffee", "rocket")]
    for kind in ("gradcam", "class"):
        found = Evidence(predictor, kind).batch(images, [3, 3, 3], [False] * 3)
        for image, item in zip(images, found):
            alone, _ = predictor.gradient_map(image, MapSpec(kind, class_index=3))
            alone = to_side(torch.from_numpy(np.asarray(alone, np.float32))[None, None])[0, 0].numpy()
            assert np.allclose(item.heat, alone / alone.sum(), atol=1e-4), kind


def test_power_iteration_finds_the_first_component():
    torch.manual_seed(1)
    data = torch.randn(200, 30, dtype=torch.float64) * torch.linspace(3, 0.5, 30)  # a first component 3% ahead
    centred = data - data.mean(dim=0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    assert abs(float(first_component(centred) @ vh[0])) > 1 - 1e-6


def test_the_object_is_the_side_that_touches_the_border_less():
    rng = np.random.default_rng(5)
    tokens = rng.normal(0, 0.1, (SIDE, SIDE, 8))
    tokens[4:10, 6:12] += np.array([3, 0, 0, 0, 0, 0, 0, 0])  # the object: off centre, away from the border
    photo = np.ones((SIDE, SIDE), bool)
    found = object_estimate(torch.from_numpy(tokens.reshape(-1, 8)), photo)
    truth = np.zeros((SIDE, SIDE), bool)
    truth[4:10, 6:12] = True
    assert (found == truth).all()


def test_a_part_of_its_own_is_found_where_the_evidence_sits():
    """Tokens: every photo has 'scene' tokens shared by both classes; the marked class has a
    distinct token direction on 4 cells where its map sits. The top part must be that one,
    present in no photo of the other class."""
    rng = np.random.default_rng(6)
    width = 12
    scene = rng.normal(0, 1, (4, width))

    def photo(marked: bool):
        tokens = scene[rng.integers(0, 4, SIDE * SIDE)] + rng.normal(0, 0.1, (SIDE * SIDE, width))
        heat = np.full(SIDE * SIDE, 0.2)
        if marked:
            cells = rng.choice(SIDE * SIDE, 4, replace=False)
            tokens[cells] = 4.0 * np.eye(width)[0] + rng.normal(0, 0.1, (4, width))
            heat[cells] = 30.0
        return tokens.astype(np.float16), (heat / heat.sum()).reshape(SIDE, SIDE), np.ones((SIDE, SIDE), bool)

    marked = [photo(True) for _ in range(15)]
    plain = [photo(False) for _ in range(15)]
    parts = find_parts([t for t, _, _ in marked], [p for _, _, p in marked], [h for _, h, _ in marked],
                       list(range(15)), [(t, p) for t, _, p in plain], SIDE)
    top = parts[0]
    assert top.share > 0.5 and top.other_classes == 0.0 and top.present == 1.0
    assert top.area < 0.05 and len(top.decides) == 15
    finding = fd.own_part("marked", parts, 15)
    assert finding is not None and finding.kind == "own_part" and len(finding.photos) == 15


@pytest.fixture
def class_folder(tmp_path, photos):
    """Two class folders of real photo crops (12 each), one unreadable file among them."""
    from conftest import crop_class_folders

    root = crop_class_folders(tmp_path / "data", photos, seed=0, size=(96, 96))
    (root / "cats" / "broken.jpg").write_bytes(b"not a photo")
    return root


def run_cli(argv, capsys):
    from vit_gui.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_keeps_the_json_contract_and_lists_an_unreadable_photo(class_folder, tiny_checkpoint, capsys,
                                                                          tmp_path):
    code, out, err = run_cli(["audit", str(class_folder), "--model", str(tiny_checkpoint), "--format", "json",
                              "--report", str(tmp_path / "report")], capsys)
    assert code == 1, err  # one photo could not be read: it is listed, the rest audited
    report = json.loads(out)
    assert report["map"] == "gradcam"
    assert [f["path"].endswith("broken.jpg") for f in report["failed"]] == [True]
    assert report["failed"][0]["reason"]
    assert [c["name"] for c in report["classes"]] == ["cats", "things"]
    for item in report["classes"]:
        assert len(item["photos"]) == 12
        assert sum(g["size"] for g in item["groups"]) == 12
        assert sorted(p for g in item["groups"] for p in g["photos"]) == sorted(item["photos"])
        assert np.isclose(np.sum(item["groups"][0]["mean_map"]), 1.0, atol=1e-3)
        assert item["parts"] and abs(sum(p["share"] for p in item["parts"]) - 1.0) < 0.01
        for finding in item["findings"]:
            assert set(finding) >= {"kind", "share", "box", "photos", "words"}
            assert all(0.0 <= v <= 1.0 for v in finding["box"])
    page = (tmp_path / "report" / "audit.html").read_text()
    assert page.count("data:image/jpeg;base64,") >= 24 and "cats" in page and "broken.jpg" in page


def test_a_users_file_is_never_replaced_by_the_report(class_folder, tiny_checkpoint, capsys, tmp_path):
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "audit.html").write_text("my own notes")
    code, _, err = run_cli(["audit", str(class_folder), "--model", str(tiny_checkpoint), "--report", str(folder)],
                           capsys)
    assert code == 1, err
    assert (folder / "audit.html").read_text() == "my own notes"
    assert "vit-gui audit" in (folder / "audit-2.html").read_text()
    assert not list(folder.glob(".*part"))  # no half files left


def test_the_class_evidence_map_can_be_chosen(class_folder, tiny_checkpoint, capsys):
    code, out, _ = run_cli(["audit", str(class_folder), "--model", str(tiny_checkpoint), "--format", "json",
                            "--map", "class"], capsys)
    assert code == 1 and json.loads(out)["map"] == "class"


def test_too_few_photos_in_a_class_are_said_to_be_too_few(tmp_path, photos, tiny_checkpoint, capsys):
    from PIL import Image

    for name, count in (("cats", 7), ("things", 11)):
        (tmp_path / "few" / name).mkdir(parents=True)
        for k in range(count):
            Image.fromarray(photos["chelsea" if name == "cats" else "coffee"][k * 10:k * 10 + 200, :200]).save(
                tmp_path / "few" / name / f"{k}.png")
    code, out, _ = run_cli(["audit", str(tmp_path / "few"), "--model", str(tiny_checkpoint)], capsys)
    assert code == 0
    assert 'only 7 "cats" photos: too few to tell' in out


def test_a_backbone_is_read_by_rollout_and_needs_class_folders(photo_folder, class_folder, tmp_path, capsys):
    from vit_gui.model.safetensors_io import write_safetensors
    from vit_gui.model.vit import VisionTransformer

    torch.manual_seed(0)
    path = write_safetensors(tmp_path / "b.safetensors", VisionTransformer(embed_dim=192, depth=2, num_heads=3,
                                                                           num_classes=0).state_dict())
    code, _, err = run_cli(["audit", str(photo_folder), "--model", str(path)], capsys)
    assert code == 2 and "two or more class folders, one a class" in err
    code, out, err = run_cli(["audit", str(class_folder), "--model", str(path), "--format", "json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["map"] == "rollout" and [len(c["photos"]) for c in report["classes"]] == [12, 12]


def test_cancel_stops_between_batches_and_writes_nothing(class_folder, tiny_checkpoint):
    from vit_gui.audit.collect import AuditCancelled
    from vit_gui.audit.run import audit
    from vit_gui.predict import Predictor

    heard = []
    with pytest.raises(AuditCancelled):
        audit(class_folder, Predictor.from_file(tiny_checkpoint),
              progress=lambda done, total, left: heard.append((done, total, left)), cancelled=lambda: len(heard) >= 1)
    assert heard[0][0] == 8 and heard[0][1] == 25 and heard[0][2] > 0  # the time left was said


def test_any_photos_are_grouped_by_the_models_answer(photo_folder, tiny_checkpoint, capsys):
    """No class folders: each photo goes to the class the model answers; three photos are too
    few to tell for whichever classes they land in."""
    from vit_gui.predict import Predictor

    code, out, _ = run_cli(["audit", str(photo_folder), "--model", str(tiny_checkpoint), "--format", "json"], capsys)
    report = json.loads(out)
    assert code == 0
    answers = {}
    from vit_gui.images import load_image

    predictor = Predictor.from_file(tiny_checkpoint)
    for item in report["classes"]:
        for path in item["photos"]:
            answers[path] = item["name"]
            [prediction] = predictor.predict([load_image(path).image], top_k=1)
            assert prediction.top[0].label == item["name"]
        assert [f["kind"] for f in item["findings"]] == ["too_few"]
    assert len(answers) == 3


def test_a_class_folder_that_names_no_model_class_says_what_its_maps_explain(class_folder, tiny_checkpoint, capsys):
    """The tiny model's classes are "label 0".."label 9": "label 3" is mapped to its class,
    "cats" to none, so its maps explain each photo's own answer, and the output says so."""
    (class_folder / "things").rename(class_folder / "Label  3")  # case and spacing aside
    code, out, err = run_cli(["audit", str(class_folder), "--model", str(tiny_checkpoint), "--format", "json"],
                             capsys)
    assert code == 1, err
    mapped = {c["name"]: c["mapped_to"] for c in json.loads(out)["classes"]}
    assert mapped == {"cats": None, "Label  3": "label 3"}
    assert "no class named \"cats\"" in err and "own answer" in err and "Label  3" not in err
    code, out, err = run_cli(["audit", str(class_folder), "--model", str(tiny_checkpoint)], capsys)
    assert "no class named \"cats\": these maps explain the model's own answer" in out


def test_ctrl_c_during_the_audit_exits_130_and_writes_no_report(class_folder, tiny_checkpoint, capsys, tmp_path,
                                                                 monkeypatch):
    """Documents behaviour the command already had (not a defect test): an interrupt between
    batches leaves no page, no half file and no JSON on stdout."""
    from vit_gui.cli import audit as command

    def interrupt(self, done, total, left):
        raise KeyboardInterrupt

    monkeypatch.setattr(command.Progress, "__call__", interrupt)
    folder = tmp_path / "report"
    code, out, err = run_cli(["audit", str(class_folder), "--model", str(tiny_checkpoint), "--format", "json",
                              "--report", str(folder)], capsys)
    assert code == 130 and out == "" and "nothing was written" in err
    assert not folder.exists() or not list(folder.iterdir())


def test_a_backbone_read_from_its_second_block_is_not_said_to_explain_an_answer():
    from vit_gui.cli.audit import unmapped

    item = {"name": "cat", "mapped_to": None}
    assert not unmapped({"map": "rollout-from2"}, item)  # the built-in DINOv2: no answer to explain
    assert unmapped({"map": "gradcam"}, item)

"""Issue #29, item 8: the check in seconds, with progress and the time left, and a Cancel that
is heard at once. Timings are in benchmarks/check_speed.py; these tests pin down the
mechanics that make them (each failed on the code before: no progress module, a busy bar
with no share done, token drop run on full-length masked sequences, sanity tests deaf to
Cancel)."""

import json

import numpy as np
import pytest
from PIL import Image

from vit_gui.explain.check_progress import CheckProgress, Countdown, seconds_words
from vit_gui.explain.faithfulness import Judge, check_map
from vit_gui.predict import Predictor


@pytest.fixture
def tiny(tiny_checkpoint):
    return Predictor.from_file(tiny_checkpoint)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_time_left_is_what_is_left_at_the_pace_so_far():
    clock = FakeClock()
    countdown = Countdown(clock)
    assert countdown.words(0, 10) == "working out how long it will take"
    clock.now += 3.0
    assert countdown.left(1, 3) == pytest.approx(9.0)  # one unit in 3 s: 3 more take 9 s
    assert countdown.words(1, 3) == "up to about 9 s left"
    assert [seconds_words(s) for s in (0.2, 59.4, 59.6, 61, 119.7, 125, 599.7, 900)] == [
        "1 s", "59 s", "1 min 00 s", "1 min 01 s", "2 min 00 s", "2 min 05 s", "10 min", "15 min"]


def test_progress_counts_the_maps_own_curves_its_copies_and_its_sanity_tests():
    clock, seen = FakeClock(), []
    progress = CheckProgress(2, lambda words, permille: seen.append((words, permille)), copies=19, clock=clock)
    progress.start_map(0, "Rollout")
    for done in range(5):
        clock.now += 1
        progress.copies_done(done, 19)
    progress.copies_finished(4)  # stopped early: the rest of this map's copies are not needed
    clock.now += 4  # its sanity tests: 4 units at 1 s a unit
    progress.start_map(1, "Block 12")
    progress.copies_done(0, 19)
    progress.finished()
    shares = [permille for _, permille in seen]
    assert shares == sorted(shares) and shares[-1] == 1000 and max(shares[:-1]) < 1000 and 0 < shares[3] < 500
    assert seen[3][0].startswith("map 1 of 2 (Rollout): hiding parts of the photo, copies of the map moved "
                                 "elsewhere: 2 of at most 19 · up to about")
    assert shares[-2] == int(1000 * 25 / 48)  # map 2 after its own curves: 24 + 1 of 2 x 24 units
    # map 2 planned in full (23 units: its 19 copies and 4 for its sanity tests) at the pace so
    # far, 9 s for 10 units run (map 1 stopped after 4 copies): 20.7 s; map 1's early stop is
    # not assumed again (the old estimate said 9 s)
    assert seen[-2][0].endswith("up to about 21 s left")
    assert seen[-1][0].startswith("done in")


def test_a_check_reports_after_the_maps_curves_and_each_copy(tiny, photos):
    image = Image.fromarray(photos["chelsea"])
    calls = []
    result = check_map(tiny, image, np.random.default_rng(0).random((14, 14)), progress=lambda d, m: calls.append((d, m)),
                       early_stop=False)
    assert calls == [(d, 19) for d in range(19)] + [(19, 19)] and result.compared == 19


def test_token_drop_runs_shorter_sequences_whole(tiny, photos, monkeypatch):
    """Every forward pass of a token-drop check removes as many patches from each of its
    photos, so it runs as one shorter sequence (it ran masked at full length before)."""
    model = tiny.model
    counts, forward = [], model.forward

    def spy(pixels, return_attention=False, keep=None):
        if keep is not None:
            counts.append(sorted(set(keep.sum(dim=1).tolist())))
        return forward(pixels, return_attention, keep)

    monkeypatch.setattr(model, "forward", spy)
    monkeypatch.setattr(model, "__call__", spy, raising=False)
    judge = Judge(tiny, Image.fromarray(photos["coffee"]), "drop")
    judge.remover.model = type("Spy", (), {"__call__": lambda self, *a, **k: spy(*a, **k)})()
    judge.judge(np.random.default_rng(1).random((14, 14)))
    assert counts and all(len(kept) == 1 for kept in counts)


def test_the_sanity_tests_hear_cancel_between_steps(tiny, photos):
    from vit_gui.errors import VitGuiError
    from vit_gui.explain.maps import MapSpec
    from vit_gui.explain.trust import test_map

    asked = []

    def cancelled():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(VitGuiError, match="cancelled"):
        test_map(tiny, Image.fromarray(photos["chelsea"]), MapSpec("rollout"), cancelled=cancelled)
    assert len(asked) == 3  # heard at the third step, not after the whole cascade


def test_the_cli_says_how_far_the_check_has_gone(tiny_checkpoint, photo_folder, capsys, monkeypatch):
    """Not a terminal: a line every EVERY seconds (0 here: the tiny model is done in two)."""
    import vit_gui.cli.check_lines as check_lines
    from vit_gui.cli import main

    monkeypatch.setattr(check_lines, "EVERY", 0.0)

    code = main(["classify", str(photo_folder / "coffee.png"), "--model", str(tiny_checkpoint), "--faithfulness",
                 "--sanity", "--format", "json"])
    assert code == 0
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if "checking the map of coffee.png" in line]
    assert lines and "copies" in out.err and lines[-1].endswith(tuple(f"{s} s" for s in range(1, 60)))
    assert "done in" in lines[-1] and sum("done in" in line for line in lines) == 1  # one last line
    assert json.loads(out.out)[0]["faithfulness"]["copies_compared"] >= 4


def test_the_window_shows_the_share_done_and_the_time_left(qtbot, tmp_path, tiny_checkpoint, photo_folder):
    from gui_helpers import open_check

    window, view, check = open_check(qtbot, tmp_path, tiny_checkpoint, photo_folder / "coffee.png")
    seen = []
    window.worker.check_progress.connect(lambda words, permille: seen.append((words, permille)))
    assert check.progress.maximum() == 1000  # a share done, not a busy bar
    qtbot.waitUntil(lambda: not check.busy, timeout=60_000)
    seen.clear()
    check.check_again.click()
    qtbot.waitUntil(lambda: not check.busy, timeout=60_000)
    assert seen and [p for _, p in seen] == sorted(p for _, p in seen) and seen[-1][1] == 1000
    assert any("up to about" in words or "working out" in words for words, _ in seen)


def small_classifier(grid: int):
    """A random one-block ViT on a grid x grid photo of 8-pixel patches."""
    from pathlib import Path

    import torch

    from vit_gui.model.checkpoints import LoadedModel
    from vit_gui.model.config import Architecture, ModelInfo, Preprocessing
    from vit_gui.model.vit import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(grid=(grid, grid), patch_size=8, num_classes=2, embed_dim=8, depth=1, num_heads=1,
                              mlp_hidden=8).eval()
    arch = Architecture(depth=1, embed_dim=8, num_heads=1, patch_size=8, grid=(grid, grid), num_classes=2,
                        mlp_hidden=8)
    prep = Preprocessing(input_size=(8 * grid, 8 * grid), mean=(0, 0, 0), std=(1, 1, 1), crop_pct=1.0)
    return Predictor(LoadedModel(model, ModelInfo("small", Path("small"), arch, prep, ("a", "b"), "timm")))


@pytest.mark.parametrize("protocol", ["drop", "mean", "blackout"])
def test_a_photo_of_fewer_patches_than_steps_is_judged_at_every_other_point(protocol):
    """9 patches, 10 steps: the counts repeat, and picking the judged points by value took
    too many (a crash in the first version of the 5-point judging; found by a red-team)."""
    predictor = small_classifier(3)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8))
    result = check_map(predictor, image, np.random.default_rng(1).random((3, 3)), class_index=1, protocol=protocol,
                       random_orders=3)
    assert result.judged.tolist() == [0, 2, 4, 6, 8, 10] and len(result.copies.fractions) == 6
    assert np.isfinite(result.statistic)


def test_moves_of_a_photo_one_patch_high_are_distinct_and_never_the_map_itself():
    """Mirroring a side one patch long gives it back unchanged: a shift down by one was the
    identity, counted against the map (found by a red-team: 80 of 200 seeds drew it)."""
    from vit_gui.explain import moved_copies as mc

    photo = np.zeros((14, 14), bool)
    photo[6, :] = True  # a letterboxed strip
    grid_map = np.where(photo, np.random.default_rng(0).random((14, 14)), 0.0)
    for seed in range(200):
        copies = [mc.moved(grid_map, photo, move).tobytes() for move in mc.draw_moves(photo, 19, seed)]
        assert grid_map.tobytes() not in copies and len(set(copies)) == len(copies)
    one = np.zeros((14, 14), bool)
    one[3, 4] = True
    assert mc.draw_moves(one, 19, 0) == []  # a one-patch photo has no other place to go


def test_saco_words_say_chance_near_zero_and_reversed_below_it():
    from vit_gui.explain.check_words import saco_words

    assert saco_words(0.01) == "about as good as chance" and saco_words(-0.1) == "about as good as chance"
    assert saco_words(-0.8).startswith("reversed") and saco_words(0.3) == "partly right"
    assert saco_words(0.9) == "mostly right"


def test_a_one_patch_photo_has_no_copies_and_is_not_called_faithful():
    predictor = small_classifier(1)
    image = Image.fromarray(np.full((8, 8, 3), 128, np.uint8))
    result = check_map(predictor, image, np.ones((1, 1)), class_index=1)
    assert result.compared == 0 and result.p_value == 1.0 and result.verdict == "not shown to be faithful"

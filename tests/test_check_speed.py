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
    assert countdown.words(0.0) == "working out how long it will take"
    clock.now += 3.0
    assert countdown.left(0.25) == pytest.approx(9.0)  # a quarter in 3 s: 9 s more
    assert countdown.words(0.25) == "at most about 9 s left"
    clock.now += 600
    assert countdown.words(1.0).startswith("done in 10 min")
    assert [seconds_words(s) for s in (0.2, 59.4, 61, 125)] == ["1 s", "59 s", "1 min 01 s", "2 min 05 s"]


def test_progress_counts_the_maps_own_curves_its_copies_and_its_sanity_tests():
    clock, seen = FakeClock(), []
    progress = CheckProgress(2, lambda words, permille: seen.append((words, permille)), copies=19, clock=clock)
    progress.start_map(0, "Rollout")
    for done in range(5):
        clock.now += 1
        progress.copies_done(done, 19)
    progress.copies_finished(4)  # stopped early: the rest of this map's copies are not needed
    progress.start_map(1, "Block 12")
    progress.copies_done(0, 19)
    progress.finished()
    shares = [permille for _, permille in seen]
    assert shares == sorted(shares) and shares[-1] == 1000 and 0 < shares[3] < 500
    assert seen[3][0].startswith("map 1 of 2 (Rollout): hiding parts of the photo, copies of the map moved "
                                 "elsewhere: 2 of at most 19 · at most about")
    assert shares[-2] == int(1000 * 25 / 48)  # map 2 after its own curves: 24 + 1 of 2 x 24 units
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
    assert "done in" in lines[-1]
    assert json.loads(out.out)[0]["faithfulness"]["copies_compared"] >= 4


def test_the_window_shows_the_share_done_and_the_time_left(qtbot, tmp_path, tiny_checkpoint, photo_folder):
    from gui_helpers import drop, make_window, wait_idle, wait_map

    window = make_window(qtbot, tmp_path / "s.ini", tiny_checkpoint)
    drop(window, paths=[photo_folder / "coffee.png"])
    wait_idle(qtbot, window)
    view = window.attention
    wait_map(qtbot, view)
    view.check.click()
    check = window.checks.window
    seen = []
    window.worker.check_progress.connect(lambda words, permille: seen.append((words, permille)))
    assert check.progress.maximum() == 1000  # a share done, not a busy bar
    qtbot.waitUntil(lambda: not check.busy, timeout=60_000)
    seen.clear()
    check.check_again.click()
    qtbot.waitUntil(lambda: not check.busy, timeout=60_000)
    assert seen and [p for _, p in seen] == sorted(p for _, p in seen) and seen[-1][1] == 1000
    assert any("at most about" in words or "working out" in words for words, _ in seen)

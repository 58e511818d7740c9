"""The map view's state without Qt (issue #31 item 1): what a class pick does to the next
photo, which parameters each view reads, when a verdict stops applying, tiles, zoom, and two
states linked as the side-by-side window links them. No widget is made here."""

import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from vit_gui.explain.maps import MapSpec
from vit_gui.map_state import VIEW_ATLAS, VIEW_BLOCKS, VIEW_HEADS, VIEW_SINGLE, MapState, link_settings


@dataclass
class Top:
    index: int
    label: str


class FakePrediction:
    """What the state reads of a prediction: its top classes."""

    def __init__(self, *tops):
        self.top = [Top(i, f"class {i}") for i in tops]


def recorded(state):
    seen = []
    state.subscribe(seen.append)
    return seen


def test_the_state_and_its_pictures_need_no_qt_and_no_torch():
    code = ("import sys, vit_gui.map_state, vit_gui.map_pictures; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_model_sets_blocks_heads_and_the_first_map():
    state = MapState()
    seen = recorded(state)
    state.set_model(4, 3, rollout_start_block=1)
    assert (state.settings.block, state.settings.start_block, state.depth, state.heads) == (3, 1, 4, 3)
    assert "model" in seen[-1]
    state.change(block=9, head=7)  # clamped to the model
    assert (state.settings.block, state.settings.head) == (3, 2)
    state.set_model(4, 3, has_classes=True, default_map="class")
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5, 2))
    assert state.spec() == MapSpec("class", class_index=5)  # opens on the top class's evidence
    state.set_model(4, 3, has_classes=False)
    assert state.settings.method == "rollout"
    state.change(method="class")  # a backbone has no class to show
    assert state.settings.method == "rollout"


def test_class_maps_follow_the_top_class_until_one_is_picked():
    state = MapState()
    state.set_model(4, 3)
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5, 2))
    state.change(method="class")
    assert state.class_index == 5 and state.follow_top
    state.show(Image.new("RGB", (8, 8)), FakePrediction(1, 2))
    assert state.class_index == 1  # followed the new top class
    state.pick_class(2, "class 2")  # the runner-up, picked
    assert state.class_index == 2 and not state.follow_top
    state.show(Image.new("RGB", (8, 8)), FakePrediction(4, 2))
    assert state.class_index == 2  # stays picked on the next photo
    state.change(method="rollout")
    state.show(Image.new("RGB", (8, 8)), FakePrediction(4, 2))
    assert state.class_index is None and state.spec() == MapSpec("rollout", start_block=0)


def test_gradient_maps_are_asked_once_and_dropped_with_the_photo():
    state = MapState()
    state.set_model(4, 3)
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5))
    state.pick_class(5, "class 5")
    wanted = state.wanted_gradient_map()
    assert wanted == MapSpec("class", class_index=5)
    state.mark_asked(wanted)
    assert state.wanted_gradient_map() is None  # asked already: not twice
    state.add_class_map(wanted, np.ones((2, 2)))
    assert state.has_class_map(5) and state.wanted_gradient_map() is None
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5))
    assert not state.has_class_map(5) and state.wanted_gradient_map() == wanted  # a new photo asks again
    state.mark_asked(wanted)
    state.class_map_failed(wanted)
    assert state.wanted_gradient_map() == wanted  # a failure may be retried


def test_a_verdict_lasts_while_its_map_is_shown():
    state = MapState()
    state.set_model(4, 3)
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5))
    state.set_verdict(MapSpec("block", block=0), "not this map")
    assert state.verdict == ""  # a verdict of another map is not shown
    state.set_verdict(state.spec(), "Checked: faithful")
    state.change(opacity=0.2, colormap="gray", zoom=2.0)  # the look changes nothing the check judged
    assert state.verdict == "Checked: faithful"
    state.change(discard_ratio=0.3)
    assert state.verdict == "" and state.checked_spec is None


def test_each_view_reads_its_own_parameters_and_tiles_choose_a_map():
    state = MapState()
    state.set_model(4, 3)
    state.change(method="head")
    assert set(state.live_parameters()) == {"block", "head"}
    for view, live in ((VIEW_BLOCKS, {"fusion"}), (VIEW_HEADS, {"block"}), (VIEW_ATLAS, set())):
        state.change(view=view)
        assert set(state.live_parameters()) == live
    state.select_tile(7)  # atlas: row 2, column 1 of 4 x 3
    assert (state.settings.view, state.settings.method, state.settings.block, state.settings.head) == \
        (VIEW_SINGLE, "head", 2, 1)
    state.change(view=VIEW_BLOCKS)
    state.select_tile(1)
    assert (state.settings.method, state.settings.block) == ("block", 1)
    state.apply_spec(MapSpec("legrad", class_index=3, start_block=2), "class 3")
    assert state.spec() == MapSpec("legrad", class_index=3, start_block=2) and state.class_label() == "class 3"


def test_zoom_keeps_the_point_under_the_pointer_and_stays_on_the_photo():
    state = MapState()
    state.zoom_at(2.0, at=(0.75, 0.5))  # the point at 3/4 across stays at 3/4 of the shown part
    s = state.settings
    assert s.zoom == 2.0 and s.centre[0] - 0.25 + 0.75 * 0.5 == pytest.approx(0.75)
    state.pan(-10.0, 0.0)  # dragged far: the shown part stops at the photo's right edge
    assert state.settings.centre[0] == pytest.approx(0.75)
    state.zoom_at(100.0)
    assert state.settings.zoom == 8.0
    state.zoom_at(0.001)
    assert state.settings == state.settings.__class__(**{**vars(state.settings), "zoom": 1.0, "centre": (0.5, 0.5)})


def test_two_linked_states_share_settings_but_each_keeps_its_model():
    a, b = MapState(), MapState()
    link_settings(a, b)
    a.set_model(12, 6, has_classes=True)
    b.set_model(4, 3, has_classes=False)  # a shallower backbone
    a.change(colormap="gray", opacity=0.7, zoom=2.0, centre=(0.3, 0.3))
    assert (b.settings.colormap, b.settings.opacity, b.settings.zoom, b.settings.centre) == ("gray", 0.7, 2.0,
                                                                                            (0.3, 0.3))
    a.change(block=10)
    assert b.settings.block == 3 and a.settings.block == 10  # b's clamp stays b's
    a.show(Image.new("RGB", (8, 8)), FakePrediction(5))
    b.show(Image.new("RGB", (8, 8)), FakePrediction())
    a.change(method="class")
    assert a.settings.method == "class" and b.settings.method == "rollout"  # the backbone cannot; A keeps it
    b.change(fusion="max")  # either side may change them
    assert a.settings.fusion == "max"


# ---- found by a red-team of the redesign; each failed before its fix --------------------------
def test_apply_spec_of_the_top_class_keeps_following_the_top_class():
    """Old ClassMapsMixin.apply_spec -> request_class(picked=True) set
    follow_top = (class_index == top): choosing, in the check window, the top class's
    evidence left the view following each photo's top class."""
    state = MapState()
    state.set_model(4, 3)
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5, 2))
    state.apply_spec(MapSpec("class", class_index=5), "class 5")  # the top class's evidence
    state.show(Image.new("RGB", (8, 8)), FakePrediction(7, 5))  # next photo: top class is 7
    assert state.spec() == MapSpec("class", class_index=7)


def test_apply_spec_of_another_class_with_the_same_method_tells_the_view():
    """Only the class differs from what is shown: the listeners (the view that must redraw,
    the verdict line) are never told, so the old class's map stays drawn."""
    state = MapState()
    state.set_model(4, 3)
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5, 2))
    state.change(method="class")  # class evidence of the top class (5)
    seen = []
    state.subscribe(seen.append)
    state.apply_spec(MapSpec("class", class_index=2), "class 2")
    assert state.spec() == MapSpec("class", class_index=2)
    assert seen and "class" in seen[-1], f"listeners told: {seen}"


def test_linked_deeper_model_a_keeps_its_own_last_block_and_start_block():
    """Compare window: A (12 blocks, rollout advised from block 2) beside B (4 blocks).
    CompareWindow.on_loaded calls set_model on A then on B; B's set_model passes every
    setting back to A, clamping A to B's shape."""
    a, b = MapState(), MapState()
    link_settings(a, b)
    a.set_model(12, 12, rollout_start_block=1)
    b.set_model(4, 3, rollout_start_block=0)
    assert a.settings.block == 11, f"A opens on block {a.settings.block + 1} of 12"
    assert a.settings.start_block == 1, f"A's rollout starts at block {a.settings.start_block + 1}, not 2"
    assert b.settings.block == 3


def test_a_new_model_forgets_the_class_picked_on_the_last_one():
    """Class 5 picked on one model names another class (or none) on the next: it must not be
    asked of the new model (a red-team's finding, also in the code before the redesign)."""
    state = MapState()
    state.set_model(4, 3)
    state.show(Image.new("RGB", (8, 8)), FakePrediction(5, 2))
    state.pick_class(2, "class 2")
    state.set_model(4, 3)  # another model loaded
    assert state.class_index is None and state.class_labels == {} and state.follow_top
    state.show(Image.new("RGB", (8, 8)), FakePrediction(1, 2))
    assert state.spec() == MapSpec("class", class_index=1)  # the new model's own top class

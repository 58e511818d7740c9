"""The colour bar under saved pictures: the photo untouched, the bar in the map's colours."""

import numpy as np
import pytest
from PIL import Image

from vit_gui.explain.legend import legend_height, with_legend
from vit_gui.explain.maps import METHODS, legend_words
from vit_gui.explain.overlay import colorize


@pytest.mark.parametrize("width", [12, 64, 451, 3000])
def test_the_band_goes_below_and_holds_both_ends_of_the_colour_bar(width):
    rng = np.random.default_rng(width)
    photo = rng.integers(0, 256, (width // 2 + 5, width, 3), dtype=np.uint8)
    out = np.asarray(with_legend(Image.fromarray(photo), "viridis", "less attention", "more attention"))
    assert out.shape == (photo.shape[0] + legend_height(width), width, 3)
    np.testing.assert_array_equal(out[: photo.shape[0]], photo)
    band = out[photo.shape[0]:].reshape(-1, 3).astype(int)
    for end in (0.0, 1.0):
        colour = colorize(np.array([[end]]), "viridis")[0, 0]
        assert (np.abs(band - colour).sum(-1) <= 6).any(), f"no {end} end of the bar"


def test_words_say_attention_or_evidence_for_the_named_class():
    assert legend_words(METHODS["rollout"]) == ("less attention", "more attention")
    assert legend_words(METHODS["head"]) == ("less attention", "more attention")
    low, high = legend_words(METHODS["class"], "tabby cat")
    assert low == "less evidence" and "tabby cat" in high


def test_a_wide_label_on_a_narrow_picture_still_fits_the_band():
    out = with_legend(Image.new("RGB", (60, 40), "gray"), "inferno", "less evidence",
                      "more evidence for “a very long class name, with synonyms”")
    assert out.size == (60, 40 + legend_height(60))

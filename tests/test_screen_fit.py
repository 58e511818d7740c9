"""Windows fit a laptop's screen with their frame (title bar and borders), not just their inside."""

import pytest

from vit_gui.gui.screen_fit import FRAME_HEIGHT, FRAME_WIDTH, fitted_size


@pytest.mark.parametrize("free", [(1366, 768), (1366, 728), (1280, 800), (1280, 760)])  # with or without a task bar
@pytest.mark.parametrize("asked", [(1300, 800), (1240, 780), (1180, 760)])
def test_a_window_with_its_frame_fits_the_free_area(free, asked):
    width, height = fitted_size(*asked, *free)
    assert width + FRAME_WIDTH <= free[0] and height + FRAME_HEIGHT <= free[1]
    assert FRAME_HEIGHT >= 30  # a title bar is 20-32 px: the allowance covers one


def test_a_big_screen_gives_what_was_asked():
    assert fitted_size(1300, 800, 2560, 1400) == (1300, 800)

"""Preprocessing geometry, and maps drawn back exactly where the model looked."""


import numpy as np
import pytest
from PIL import Image

from vit_gui.explain.overlay import heat_on_image, overlay
from vit_gui.model.config import Preprocessing
from vit_gui.preprocess import geometry_for, preprocess, resize_to_input

CROP = Preprocessing(input_size=(224, 224), crop_pct=0.9, resize_mode="crop")
CROP_WIDE = Preprocessing(input_size=(160, 288), crop_pct=0.875, resize_mode="crop")
LETTERBOX = Preprocessing(input_size=(224, 224), resize_mode="letterbox")
UNIT = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def coordinate_image(width, height):
    """Red encodes x, green encodes y (linear ramps), so resampling keeps the coordinates."""
    xs = np.linspace(0, 255, width)
    ys = np.linspace(0, 255, height)
    red = np.broadcast_to(xs[None, :], (height, width))
    green = np.broadcast_to(ys[:, None], (height, width))
    return Image.fromarray(np.stack([red, green, np.zeros_like(red)], -1).round().astype(np.uint8))


def test_crop_box_follows_timm_resize_and_centre_crop():
    # 451 x 300 photo, 224 input, crop_pct 0.9: shorter side -> floor(224 / 0.9) = 248,
    # longer side -> int(248 * 451 / 300) = 372; centre crop offsets (74, 12)
    geometry = geometry_for((451, 300), CROP)
    sx, sy = 372 / 451, 248 / 300
    assert geometry.box == pytest.approx((74 / sx, 12 / sy, 298 / sx, 236 / sy))


def test_crop_pixels_equal_resize_then_crop(photos):
    image = Image.fromarray(photos["chelsea"])
    resized = image.resize((372, 248), Image.Resampling.BICUBIC).crop((74, 12, 298, 236))
    mine = resize_to_input(image, geometry_for(image.size, CROP), CROP)
    diff = np.abs(np.asarray(mine, np.int16) - np.asarray(resized, np.int16))
    assert diff.mean() < 0.5 and diff.max() <= 3


@pytest.mark.parametrize("prep", [CROP, CROP_WIDE, LETTERBOX], ids=["crop", "crop-non-square", "letterbox"])
@pytest.mark.parametrize("size", [(300, 200), (180, 260)], ids=["landscape", "portrait"])
def test_every_input_pixel_comes_from_where_geometry_says(prep, size):
    prep = Preprocessing(**{**prep.__dict__, **UNIT})
    image = coordinate_image(*size)
    tensor, geometry = preprocess(image, prep)
    height, width = prep.input_size
    assert tensor.shape == (3, height, width)
    rgb = tensor.numpy() * 255
    checked = 0
    for v in range(3, height - 3, 17):
        for u in range(3, width - 3, 13):
            x, y = geometry.to_image(u + 0.5, v + 0.5)
            if not (2 <= x <= size[0] - 2 and 2 <= y <= size[1] - 2):
                continue  # letterbox padding or the image border's filter edge
            assert rgb[0, v, u] == pytest.approx((x - 0.5) * 255 / (size[0] - 1), abs=2.5)
            assert rgb[1, v, u] == pytest.approx((y - 0.5) * 255 / (size[1] - 1), abs=2.5)
            checked += 1
    assert checked > 50


def test_normalisation_uses_the_models_mean_and_std():
    prep = Preprocessing(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    tensor, _ = preprocess(Image.new("RGB", (50, 40), (200, 100, 50)), prep)
    expected = [(c / 255 - m) / s for c, m, s in zip((200, 100, 50), prep.mean, prep.std)]
    np.testing.assert_allclose(tensor.mean(dim=(1, 2)).numpy(), expected, atol=1e-5)


def test_letterbox_pads_with_the_mean_colour():
    prep = Preprocessing(input_size=(224, 224), resize_mode="letterbox", mean=(0.2, 0.4, 0.6), std=(0.5, 0.5, 0.5))
    tensor, geometry = preprocess(Image.new("RGB", (400, 100), (255, 255, 255)), prep)
    # content is 224 x 56, centred: rows 84..139; padding normalises to (mean*255 rounded)/255
    padding = tensor[:, :80, :].numpy()
    np.testing.assert_allclose(padding, np.zeros_like(padding), atol=1 / 255 / 0.5)
    white = np.array([(1 - m) / 0.5 for m in prep.mean])[:, None, None]
    np.testing.assert_allclose(tensor[:, 90:130, :].numpy(), np.broadcast_to(white, (3, 40, 224)), atol=1e-5)
    assert geometry.box[1] < 0 and geometry.box[3] > 100  # spans past the image vertically
    assert geometry.box[0] == pytest.approx(0) and geometry.box[2] == pytest.approx(400)


@pytest.mark.parametrize("prep", [CROP, CROP_WIDE, LETTERBOX], ids=["crop", "crop-non-square", "letterbox"])
@pytest.mark.parametrize("out_size", [None, (150, 100)], ids=["full-size", "display-size"])
def test_a_hot_patch_lands_where_the_model_saw_it(prep, out_size):
    image_size = (600, 400)
    geometry = geometry_for(image_size, prep)
    grid = (prep.input_size[0] // 16, prep.input_size[1] // 16)
    row, col = grid[0] // 3, grid[1] - 3
    grid_map = np.zeros(grid)
    grid_map[row, col] = 1.0
    heat, inside = heat_on_image(grid_map, geometry, out_size)
    width, height = out_size or image_size
    assert heat.shape == (height, width)
    y, x = np.unravel_index(np.argmax(heat), heat.shape)
    cx, cy = geometry.to_image((col + 0.5) * 16, (row + 0.5) * 16)
    kx, ky = width / image_size[0], height / image_size[1]
    assert abs((x + 0.5) - cx * kx) <= 1.5 * max(kx, 1) + 0.5
    assert abs((y + 0.5) - cy * ky) <= 1.5 * max(ky, 1) + 0.5
    if prep.resize_mode == "crop":  # the cropped-away sides get no heat
        assert not inside[:, 0].any() and not inside[:, -1].any() and (heat[~inside] == 0).all()
    else:
        assert inside.all()


def test_overlay_blends_with_opacity(photos):
    image = Image.fromarray(photos["coffee"])
    geometry = geometry_for(image.size, CROP)
    grid_map = np.random.default_rng(0).random((14, 14))
    assert np.array_equal(np.asarray(overlay(image, grid_map, geometry, opacity=0.0)), np.asarray(image))
    full = overlay(image, grid_map, geometry, colormap="jet", opacity=1.0)
    assert full.size == image.size
    left, top, right, bottom = geometry.box
    centre = (int((left + right) / 2), int((top + bottom) / 2))
    assert full.getpixel(centre) != image.getpixel(centre)
    assert full.getpixel((2, 2)) == image.getpixel((2, 2))  # cropped away: untouched
    half = np.asarray(overlay(image, grid_map, geometry, "jet", 0.5), np.float32)
    expected = (np.asarray(image, np.float32) + np.asarray(full, np.float32)) / 2
    assert np.abs(half - expected).max() <= 1.0


def test_unknown_colormap_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown colormap"):
        overlay(Image.new("RGB", (32, 32)), np.zeros((2, 2)), geometry_for((32, 32), CROP), colormap="rainbowz")

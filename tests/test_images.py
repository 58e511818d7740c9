"""Image loading: orientation, modes, and clear errors (the bad-input issue extends this)."""

import os

import numpy as np
import pytest
from PIL import Image

from vit_gui.errors import ImageLoadError
from vit_gui.images import find_images, load_image


def test_exif_rotation_gives_the_upright_image(tmp_path, photos):
    upright = Image.fromarray(photos["chelsea"])  # 451 x 300
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a sideways camera writes
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to view
    stored.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "sideways.jpg").image
    assert loaded.size == upright.size
    diff = np.abs(np.asarray(loaded, np.int16) - np.asarray(upright, np.int16))
    assert diff.mean() < 4


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "1", "CMYK", "P", "I;16"])
def test_modes_become_rgb(tmp_path, photos, mode):
    source = Image.fromarray(photos["coffee"])
    if mode == "I;16":
        array = (np.asarray(source.convert("L"), np.uint16) * 257)
        image = Image.frombytes("I;16", source.size, array.astype("<u2").tobytes())
    else:
        image = source.convert(mode)
    path = tmp_path / f"img.{'jpg' if mode == 'CMYK' else 'png'}"
    image.save(path)
    loaded = load_image(path).image
    assert loaded.mode == "RGB" and loaded.size == source.size
    if mode == "I;16":  # rescaled from 16 bits, not clipped to white
        grey = np.asarray(source.convert("L"), np.int16)
        assert np.abs(np.asarray(loaded, np.int16)[..., 0] - grey).max() <= 1


def test_transparency_is_composited_on_white(tmp_path):
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert load_image(tmp_path / "clear.png").image.getpixel((3, 3)) == (255, 255, 255)


def test_animated_gif_uses_the_first_frame_and_says_so(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = load_image(tmp_path / "anim.gif")
    assert loaded.image.getpixel((5, 5))[0] > 200
    assert loaded.notes == ("animation with 3 frames: using the first",)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"just some text", "not an image"),
])
def test_non_images_are_named(tmp_path, content, message):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=message):
        load_image(path)


def test_truncated_jpeg(tmp_path, photos):
    Image.fromarray(photos["rocket"]).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(tmp_path / "cut.jpg")


def test_huge_pixel_count_is_refused_before_decoding(tmp_path):
    Image.new("L", (4000, 4000)).save(tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="4000 x 4000 pixels"):
        load_image(tmp_path / "big.png", max_pixels=10_000_000)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "gone.png")


def test_find_images_recurses_sorted_and_survives_a_symlink_loop(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for rel in ("b/2.jpg", "a/1.PNG", "a/deep/3.webp", "a/notes.txt"):
        (tmp_path / rel).write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    found = find_images([tmp_path, tmp_path / "b" / "2.jpg", tmp_path / "a" / "notes.txt"])
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == ["a/1.PNG", "a/deep/3.webp", "b/2.jpg", "a/notes.txt"]


def test_an_iphone_heic_photo_is_read(tmp_path, photos, capsys, tiny_checkpoint):
    """A HEIC file written here by pillow-heif's own encoder (x265), read back through the
    app's loader, the CLI and a dropped folder."""
    import json

    from pillow_heif import from_pillow

    from vit_gui.cli import main


    original = Image.fromarray(photos["chelsea"])
    from_pillow(original).save(tmp_path / "IMG_0042.HEIC", quality=95)
    loaded = load_image(tmp_path / "IMG_0042.HEIC")
    assert loaded.image.mode == "RGB" and loaded.image.size == original.size
    difference = np.abs(np.asarray(loaded.image, np.int16) - np.asarray(original, np.int16)).mean()
    assert difference < 6  # lossy, but the same photo
    assert find_images([tmp_path]) == [tmp_path / "IMG_0042.HEIC"]
    code = main(["classify", str(tmp_path), "--model", str(tiny_checkpoint)])
    record = json.loads(capsys.readouterr()[0])[0]
    assert code == 0 and record["top"] and record["error"] is None

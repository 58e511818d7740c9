"""Builders for every kind of awkward image a user can drop, with what the app must say.

Each case writes its file(s) into a folder and returns (path, expectation), where the
expectation is ("ok", note-or-None) or ("error", message fragment).
"""

import io
import struct
import zlib

import numpy as np
from PIL import Image


class CreatesAFile:
    """A pickle payload: unpickling it calls open(marker, 'w'), creating the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _photo(photos, name="coffee", size=None):
    image = Image.fromarray(photos[name])
    return image.resize(size) if size else image


def png_header_only(width, height) -> bytes:
    """A valid PNG signature and header claiming width x height, with a tiny body."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def zero_byte(folder, photos):
    path = folder / "empty.jpg"
    path.write_bytes(b"")
    return path, ("error", "empty (0 bytes)")


def text_named_jpg(folder, photos):
    path = folder / "notes.jpg"
    path.write_text("shopping list: milk, eggs\n" * 10)
    return path, ("error", "not an image")


def truncated_jpeg(folder, photos):
    buffer = io.BytesIO()
    _photo(photos).save(buffer, "JPEG", quality=90)
    path = folder / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    return path, ("error", "damaged or truncated")


def truncated_png(folder, photos):
    buffer = io.BytesIO()
    _photo(photos).save(buffer, "PNG")
    path = folder / "cut.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path, ("error", "damaged or truncated")


def decompression_bomb(folder, photos):
    path = folder / "bomb.png"
    path.write_bytes(png_header_only(30000, 30000))
    return path, ("error", "decompression bomb")


def huge_but_under_pil_limit(folder, photos):
    path = folder / "huge.png"
    path.write_bytes(png_header_only(12000, 12000))  # 144 MP: over our 120 MP
    return path, ("error", "12000 x 12000 pixels (144 MP)")


def grey_16_bit(folder, photos):
    array = np.asarray(_photo(photos).convert("L"), np.uint16) * 257
    path = folder / "grey16.png"
    Image.frombytes("I;16", (array.shape[1], array.shape[0]), array.astype("<u2").tobytes()).save(path)
    return path, ("ok", None)


def cmyk_jpeg(folder, photos):
    path = folder / "print.jpg"
    _photo(photos).convert("CMYK").save(path, "JPEG")
    return path, ("ok", None)


def palette_with_transparency(folder, photos):
    image = _photo(photos).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    path = folder / "palette.png"
    image.save(path, transparency=0)
    return path, ("ok", None)


def rgba(folder, photos):
    image = _photo(photos).convert("RGBA")
    image.putalpha(128)
    path = folder / "rgba.png"
    image.save(path)
    return path, ("ok", None)


def la(folder, photos):
    path = folder / "la.png"
    _photo(photos).convert("LA").save(path)
    return path, ("ok", None)


def one_bit(folder, photos):
    path = folder / "bw.png"
    _photo(photos).convert("1").save(path)
    return path, ("ok", None)


def exif_rotated(folder, photos):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; viewers rotate it 90 degrees clockwise
    path = folder / "sideways.jpg"
    _photo(photos, "chelsea").transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=92)
    return path, ("ok", "turned upright as the camera recorded it (EXIF orientation 6): the map is drawn on the upright photo")


def animated_gif(folder, photos):
    frames = [_photo(photos, size=(120, 80)).rotate(angle) for angle in (0, 10, 20, 30)]
    path = folder / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path, ("ok", "animation with 4 frames: using the first")


def multipage_tiff(folder, photos):
    pages = [_photo(photos, size=(160, 100)), _photo(photos, "rocket", size=(160, 100))]
    path = folder / "scan.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path, ("ok", "multi-page TIFF with 2 pages: using the first page")


def webp(folder, photos):
    path = folder / "web.webp"
    _photo(photos).save(path, "WEBP", quality=80)
    return path, ("ok", None)


def one_pixel_wide(folder, photos):
    path = folder / "line.png"
    Image.new("RGB", (1, 300), (200, 30, 30)).save(path)
    return path, ("ok", None)


def non_ascii_path(folder, photos):
    sub = folder / "café photos"
    sub.mkdir(exist_ok=True)
    path = sub / "été 2024 – plage ☀.jpg"
    _photo(photos).save(path)
    return path, ("ok", None)


IMAGE_CASES = [zero_byte, text_named_jpg, truncated_jpeg, truncated_png, decompression_bomb,
               huge_but_under_pil_limit, grey_16_bit, cmyk_jpeg, palette_with_transparency, rgba, la,
               one_bit, exif_rotated, animated_gif, multipage_tiff, webp, one_pixel_wide, non_ascii_path]

"""Open whatever the user dropped as an upright RGB image, or say clearly why not.

Handles EXIF orientation (the map must match the photo the user sees), alpha and palette
transparency (composited on white), 16-bit and float greyscale (rescaled, not clipped),
CMYK, 1-bit, animated and multi-page files (first frame, said so), HEIC/HEIF photos (the
pillow-heif plugin; their primary image, whichever it is in the file), and refuses images so large in pixels that decoding them would exhaust
memory.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vit_gui.errors import ImageLoadError
from vit_gui.file_kinds import not_regular_reason

#: HEIC/HEIF (an iPhone's photos) are read by the pillow-heif plugin, registered on first use
#: (it costs ~45 ms to import: not at start-up)
HEIF_SUFFIXES = (".heic", ".heif", ".hif")
HEIF_READABLE = importlib.util.find_spec("pillow_heif") is not None
IMAGE_SUFFIXES = frozenset(
    ".jpg .jpeg .jpe .png .bmp .gif .tif .tiff .webp .avif .ppm .pgm .pbm .pnm .ico .tga .jfif".split()
    + (list(HEIF_SUFFIXES) if HEIF_READABLE else [])
)
#: Files that look like pictures but cannot be read: listed with the reason, never skipped silently.
UNREADABLE_SUFFIXES = {
    **({} if HEIF_READABLE else dict.fromkeys(HEIF_SUFFIXES, "a HEIC photo (the iPhone's default format), which "
                                              "this installation cannot read (pillow-heif is missing): export it "
                                              "as JPEG (on an iPhone: Settings > Camera > Formats > Most Compatible)")),
    ".svg": "a vector drawing (SVG), not a photo: export it as PNG",
    **dict.fromkeys(".cr2 .cr3 .nef .arw .dng .raf .orf .rw2 .pef .srw".split(),
                    "a camera RAW file, which this app cannot read: export it as JPEG"),
    ".psd": "a Photoshop document, which this app cannot read: export it as PNG or JPEG",
}
#: Larger images are refused before decoding: 120 MP is a 12,000 x 10,000 photo.
MAX_PIXELS = 120_000_000
# PIL warns from this size on and refuses twice it; our own check (below) speaks first
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass
class LoadedImage:
    """An upright RGB image plus notes worth telling the user (e.g. 'first frame of 12')."""

    image: Image.Image
    path: Path | None = None
    notes: tuple[str, ...] = field(default=())


@lru_cache(maxsize=1)
def _register_heif() -> bool:
    """Let Pillow open HEIC/HEIF files (once); False where the plugin cannot load."""
    try:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        return True
    except Exception:  # noqa: BLE001 - a broken plugin leaves HEIC unreadable, nothing else
        return False


def load_image(path: Path | str, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Open an image file as upright RGB; raise ImageLoadError with a user-facing reason."""
    path = Path(path)
    if HEIF_READABLE:
        _register_heif()
    try:
        reason = not_regular_reason(path)
        if reason is not None:
            raise ImageLoadError(f"this is {reason}, not an image" if reason.startswith("a ") else reason)
        if path.stat().st_size == 0:
            raise ImageLoadError("the file is empty (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit speaks
            with Image.open(path) as opened:
                image, notes = _decode(opened, max_pixels)
                return LoadedImage(image, path, notes)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError("the file no longer exists (moved or deleted?)") from None
    except PermissionError:
        raise ImageLoadError("permission denied: this file cannot be read") from None
    except UnidentifiedImageError:
        raise ImageLoadError("not an image, or an image format this app cannot read") from None
    except Image.DecompressionBombError:
        raise ImageLoadError(
            f"the file claims over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP, far more pixels than this app "
            "decodes; it may be a decompression bomb"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"the image is damaged or truncated ({exc})") from None
    except MemoryError:
        raise ImageLoadError("not enough memory to decode this image") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise odd types on malformed files
        raise ImageLoadError(f"the image could not be decoded ({type(exc).__name__}: {exc})") from None


def _decode(opened: Image.Image, max_pixels: int) -> tuple[Image.Image, tuple[str, ...]]:
    width, height = opened.size
    if width * height > max_pixels:
        raise ImageLoadError(
            f"image is {width} x {height} pixels ({width * height / 1e6:.0f} MP), more than the "
            f"{max_pixels / 1e6:.0f} MP this app opens"
        )
    notes = []
    frames = getattr(opened, "n_frames", 1)
    if frames > 1 and opened.format == "HEIF":
        pass  # pillow-heif opens at the file's primary image, the photo every viewer shows; the others are no frames
    elif frames > 1:
        opened.seek(0)
        if opened.format == "TIFF":
            notes.append(f"multi-page TIFF with {frames} pages: using the first page")
        else:
            notes.append(f"animation with {frames} frames: using the first")
    opened.load()
    turned = _orientation(opened)
    image = ImageOps.exif_transpose(opened) or opened
    if turned:
        notes.append(f"turned upright as the camera recorded it (EXIF orientation {turned}): the map is drawn on "
                     "the upright photo")
    if image.mode == "F":
        bad = int((~np.isfinite(np.asarray(image))).sum())
        if bad:
            notes.append(f"{bad:,} pixel{'s are' if bad > 1 else ' is'} not a number (NaN or infinite), shown black")
    return to_rgb(image), tuple(notes)


def _orientation(opened: Image.Image) -> int | None:
    """The EXIF orientation (2-8) a photo is shown turned by, else None. pillow-heif turns a
    HEIC itself while decoding and keeps the tag it applied as `original_orientation`."""
    try:
        value = opened.info.get("original_orientation") or opened.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - a damaged EXIF block is no reason to lose the photo
        return None
    return value if isinstance(value, int) and 2 <= value <= 8 else None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB: transparency over white, high bit depths rescaled to 8 bits."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        finite = np.isfinite(array)
        if not finite.any():
            raise ImageLoadError("no pixel of this image holds a number (all NaN or infinite)")
        array = np.where(finite, array, np.nan)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(np.nanmax(array)), 1.0)
        low = 0.0 if image.mode != "F" else float(np.nanmin(array))
        array = np.nan_to_num(array, nan=low)  # not-a-number pixels: shown black, and said so
        scaled = np.clip((array - low) / max(top - low, 1e-12) * 255.0, 0, 255)
        return Image.fromarray(scaled.round().astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def find_images(paths, suffixes=IMAGE_SUFFIXES, skipped: list | None = None) -> list[Path]:
    """Files given directly, plus image files found under folders (recursively, sorted).

    Symlinked folders are not followed, so a link loop cannot trap the walk; files given
    directly are kept whatever their suffix, so a bad one gets its own error message.
    What a folder holds that cannot be read (a subfolder without permission, a HEIC photo)
    is appended to `skipped` as (path, reason), so the user hears of it.
    """
    return list(iter_images(paths, suffixes, skipped))


def iter_images(paths, suffixes=IMAGE_SUFFIXES, skipped: list | None = None) -> Iterator[Path]:
    """find_images one path at a time, in the same order: a caller can pause between them
    (the window walks a folder of 10,000 photos in slices, never holding its GUI thread)."""
    seen: set[str] = set()
    skipped = [] if skipped is None else skipped

    def unreadable_folder(error: OSError) -> None:
        reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
        skipped.append((Path(error.filename), f"this folder cannot be opened ({reason}); its images were skipped"))

    def new(path: Path) -> bool:
        key = os.path.abspath(path)
        if key in seen:
            return False
        seen.add(key)
        return True

    for path in map(Path, paths):
        if not path.is_dir():
            if new(path):
                yield path
            continue
        for root, dirs, files in os.walk(path, followlinks=False, onerror=unreadable_folder):
            dirs.sort()
            folder = Path(root)
            for name in sorted(files):
                suffix = os.path.splitext(name)[1].lower()
                if suffix in suffixes:
                    if new(folder / name):
                        yield folder / name
                elif suffix in UNREADABLE_SUFFIXES:
                    skipped.append((folder / name, UNREADABLE_SUFFIXES[suffix]))

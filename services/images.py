"""Screenshots people upload: only real images, within limits, re-encoded without metadata.

Pure logic with no Flask in it. The content decides what a file is, never its name.
"""

from __future__ import annotations

import io
import unicodedata
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

# Pillow format -> (content type, file extension).
FORMATS = {
    "PNG": ("image/png", ".png"),
    "JPEG": ("image/jpeg", ".jpg"),
    "GIF": ("image/gif", ".gif"),
    "WEBP": ("image/webp", ".webp"),
}


class ImageRejected(ValueError):
    """Why a file is not accepted: not_image, too_large, too_many_pixels or broken."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CleanImage:
    """An upload re-encoded without its metadata: the bytes, their type and the size."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def sanitise(data: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
    """Check that `data` is a PNG, JPEG, GIF or WebP within the limits and re-encode it.

    The new file holds the pixels only: EXIF (camera, GPS), XMP, comments and text
    chunks are left behind; a JPEG is turned upright by its orientation tag first. An
    animation keeps its first picture (a screenshot is one), so the frames of a small
    file cannot unfold into gigabytes. The pixel count is read from the header before
    anything is decoded, so a decompression bomb is refused before it takes the memory.
    """
    if len(data) > max_bytes:
        raise ImageRejected("too_large")
    from PIL import Image, UnidentifiedImageError  # imported on the first upload

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too_many_pixels") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected("not_image") from exc
        # A camera's multi-picture JPEG (MPO) is a JPEG with more pictures after the first.
        fmt = "JPEG" if image.format == "MPO" else image.format
        if fmt not in FORMATS:
            raise ImageRejected("not_image")
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise ImageRejected("too_many_pixels")
        try:
            return _reencode(image, fmt)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too_many_pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            raise ImageRejected("broken") from exc


def _reencode(image: Image.Image, fmt: str) -> CleanImage:
    """The first picture of the image, saved anew in its own format without metadata."""
    from PIL import ImageOps

    content_type, extension = FORMATS[fmt]
    icc = image.info.get("icc_profile")  # colour, not personal: keep the colours right
    transparency = image.info.get("transparency")
    image.seek(0)
    image.load()
    if fmt == "JPEG":
        picture = ImageOps.exif_transpose(image)
        if picture.mode not in ("RGB", "L", "CMYK"):
            picture = picture.convert("RGB")
    elif fmt == "WEBP":
        picture = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    else:  # PNG and GIF keep their palette and transparency
        picture = image
    clean = picture.copy()
    clean.info = {}  # nothing of the file but its pixels (and palette)
    options: dict = {}
    if icc and fmt != "GIF":
        options["icc_profile"] = icc
    if transparency is not None and fmt in ("PNG", "GIF") and clean.mode in ("P", "L", "RGB"):
        options["transparency"] = transparency
    if fmt == "JPEG":
        options["quality"] = 90
    elif fmt == "WEBP":
        options["lossless"] = True
    out = io.BytesIO()
    clean.save(out, fmt, **options)
    return CleanImage(out.getvalue(), content_type, extension, clean.width, clean.height)


def clean_name(filename: str | None) -> str:
    """The file's own name without any path or control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()[:150]


def display_name(filename: str | None, extension: str, fallback: str = "screenshot") -> str:
    """A name to show and offer for download: the person's own, ending in the extension
    of what the file really is."""
    name = clean_name(filename)
    stem = name.rsplit(".", 1)[0].strip(" .") if "." in name else name
    return (stem[:100] or fallback) + extension

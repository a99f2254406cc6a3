"""Screenshots people upload: only real images, within limits, re-encoded without metadata.

Pure logic with no Flask in it. The content decides what a file is, never its name.
"""

from __future__ import annotations

import io
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

# Pillow format -> (content type, file extension).
FORMATS = {
    "PNG": ("image/png", ".png"),
    "JPEG": ("image/jpeg", ".jpg"),
    "GIF": ("image/gif", ".gif"),
    "WEBP": ("image/webp", ".webp"),
}
MAX_FRAMES = 200


class ImageRejected(ValueError):
    """Why a file is not accepted: not_image, too_large, too_many_pixels or broken."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def sanitise(data: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
    """Check that `data` is a PNG, JPEG, GIF or WebP within the limits and re-encode it.

    The new file holds the pixels only: EXIF (camera, GPS), XMP, comments and text
    chunks are left behind; a JPEG is turned upright by its orientation tag first.
    The pixel count is read from the header before anything is decoded, so a
    decompression bomb is refused before it can take the memory.
    """
    if len(data) > max_bytes:
        raise ImageRejected("too_large")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too_many_pixels") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected("not_image") from exc
        width, height = image.size
        frames = getattr(image, "n_frames", 1)
        if width < 1 or height < 1 or width * height > max_pixels:
            raise ImageRejected("too_many_pixels")
        if frames > MAX_FRAMES or width * height * frames > max_pixels * 10:
            raise ImageRejected("too_many_pixels")
        try:
            return _reencode(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too_many_pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
            raise ImageRejected("broken") from exc


def _fresh(frame: Image.Image) -> Image.Image:
    """A copy of the frame's pixels (and palette) with none of the file's metadata."""
    copy = frame.copy()
    copy.info = {}
    return copy


def _reencode(image: Image.Image) -> CleanImage:
    fmt = image.format
    content_type, extension = FORMATS[fmt]
    out = io.BytesIO()
    icc = image.info.get("icc_profile")  # colour, not personal: keep the colours right
    if fmt == "JPEG":
        image.load()
        upright = ImageOps.exif_transpose(image)
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        clean = _fresh(upright)
        clean.save(out, "JPEG", quality=90, icc_profile=icc)
    elif fmt == "PNG":
        image.load()
        clean = _fresh(image)
        options = {"icc_profile": icc}
        if "transparency" in image.info:
            options["transparency"] = image.info["transparency"]
        clean.save(out, "PNG", **{k: v for k, v in options.items() if v is not None})
    else:  # GIF and WebP, which may be animated
        frames, durations = [], []
        for frame in ImageSequence.Iterator(image):
            frame.load()
            frames.append(_fresh(frame.convert("RGBA")))
            durations.append(frame.info.get("duration", 100))
        first, rest = frames[0], frames[1:]
        options: dict = {"duration": durations[0]}
        if rest:
            loop = image.info.get("loop", 0)
            options.update(save_all=True, append_images=rest, duration=durations, loop=loop)
        if fmt == "WEBP":
            options["lossless"] = True
        first.save(out, fmt, **options)
    clean_width, clean_height = clean.size if fmt in ("JPEG", "PNG") else first.size
    return CleanImage(out.getvalue(), content_type, extension, clean_width, clean_height)


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

"""Screenshots: only real images within the limits, re-encoded without their metadata."""

from __future__ import annotations

import io

import pytest
from PIL import Image, PngImagePlugin

from services.images import ImageRejected, clean_name, display_name, sanitise

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 40_000_000}


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "KameraValmistaja"
    exif[0x0112] = 6  # rotated: the picture is upright after a quarter turn
    exif.get_ifd(0x8825)[2] = (60.0, 10.0, 0.0)  # GPS latitude
    return exif


def _saved(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_a_jpeg_loses_exif_and_gps_and_is_turned_upright():
    data = _saved(Image.new("RGB", (80, 40), "red"), "JPEG", exif=_exif().tobytes())
    clean = sanitise(data, **LIMITS)
    assert (clean.content_type, clean.extension) == ("image/jpeg", ".jpg")
    assert b"KameraValmistaja" not in clean.data
    assert not Image.open(io.BytesIO(clean.data)).getexif()
    assert (clean.width, clean.height) == (40, 80)


def test_a_png_loses_its_text_chunks_and_keeps_transparency():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Maija Meikäläinen")
    data = _saved(Image.new("P", (10, 10)), "PNG", pnginfo=info, transparency=0)
    clean = sanitise(data, **LIMITS)
    assert clean.content_type == "image/png"
    assert b"Author" not in clean.data
    assert Image.open(io.BytesIO(clean.data)).info.get("transparency") == 0


def test_a_webp_loses_its_exif():
    data = _saved(Image.new("RGB", (10, 10)), "WEBP", exif=_exif().tobytes())
    assert b"KameraValmistaja" in data
    clean = sanitise(data, **LIMITS)
    assert clean.content_type == "image/webp"
    assert b"KameraValmistaja" not in clean.data


def test_an_animation_keeps_its_first_picture_and_no_comment():
    frames = [Image.new("RGB", (30, 30), (80 * n, 0, 0)) for n in range(3)]
    data = _saved(
        frames[0], "GIF", save_all=True, append_images=frames[1:], comment=b"GPS 60N", loop=0
    )
    clean = sanitise(data, **LIMITS)
    result = Image.open(io.BytesIO(clean.data))
    assert clean.content_type == "image/gif"
    assert getattr(result, "n_frames", 1) == 1
    assert b"GPS 60N" not in clean.data


def test_many_large_frames_unfold_into_no_more_than_one_picture():
    frames = [Image.new("P", (1400, 1400), n) for n in range(60)]
    data = _saved(frames[0], "GIF", save_all=True, append_images=frames[1:])
    clean = sanitise(data, **LIMITS)
    assert (clean.width, clean.height) == (1400, 1400)
    assert getattr(Image.open(io.BytesIO(clean.data)), "n_frames", 1) == 1


def test_a_camera_multi_picture_jpeg_is_a_jpeg():
    first, second = Image.new("RGB", (20, 10), "red"), Image.new("RGB", (20, 10), "blue")
    data = _saved(first, "MPO", save_all=True, append_images=[second])
    clean = sanitise(data, **LIMITS)
    assert clean.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(clean.data)).format == "JPEG"


@pytest.mark.parametrize(
    "data",
    [
        b"just text, named .png",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        _saved(Image.new("RGB", (5, 5)), "BMP"),
        _saved(Image.new("RGB", (5, 5)), "TIFF"),
    ],
)
def test_what_is_not_a_png_jpeg_gif_or_webp_is_refused(data):
    with pytest.raises(ImageRejected) as refused:
        sanitise(data, **LIMITS)
    assert refused.value.reason in ("not_image", "broken")


def test_a_cut_off_image_is_refused():
    data = _saved(Image.effect_noise((200, 200), 60).convert("RGB"), "PNG")
    with pytest.raises(ImageRejected):
        sanitise(data[: len(data) // 2], **LIMITS)


def test_the_size_limit():
    data = _saved(Image.new("RGB", (10, 10)), "PNG")
    with pytest.raises(ImageRejected) as refused:
        sanitise(data, max_bytes=len(data) - 1, max_pixels=10**6)
    assert refused.value.reason == "too_large"


def test_the_pixel_limit_is_read_from_the_header_before_decoding():
    # 50 million pixels in a few kilobytes: under Pillow's own bomb limit, over ours.
    data = _saved(Image.new("1", (10_000, 5_000)), "PNG")
    assert len(data) < 100_000
    with pytest.raises(ImageRejected) as refused:
        sanitise(data, **LIMITS)
    assert refused.value.reason == "too_many_pixels"


def test_a_decompression_bomb_beyond_pillows_own_limit_is_refused():
    data = _saved(Image.new("1", (30_000, 30_000)), "PNG")
    with pytest.raises(ImageRejected) as refused:
        sanitise(data, **LIMITS)
    assert refused.value.reason == "too_many_pixels"


def test_names_lose_paths_and_control_characters_and_get_the_real_extension():
    assert clean_name("C:\\Users\\maija\\kuva ä.png") == "kuva ä.png"
    assert clean_name("../../etc/passwd\x00\n") == "passwd"
    assert display_name("kuva.png.exe", ".png") == "kuva.png.png"
    assert display_name("", ".gif") == "screenshot.gif"

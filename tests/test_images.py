"""images.load: every kind of bad upload is refused with a reason; odd modes become RGB."""

import io

import numpy as np
import pytest
from conftest import encode, photo_bytes, png_declaring, rgb_of
from PIL import Image

from skintrack.capture import images
from skintrack.config import Settings


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"hello, this is text renamed .jpg", "not an image"),
        (photo_bytes("obama-480p.jpg")[:20000], "truncated"),
        (png_declaring(30000, 30000), "pixels"),
        (png_declaring(20000, 100), "20000x100"),
        (encode(Image.new("RGB", (32, 32)), "PNG"), "32x32"),
        (b"%PDF-1.4\n" + b"0" * 100, "not an image"),
    ],
    ids=["empty", "text", "truncated-jpeg", "bomb", "absurd-width", "tiny", "pdf"],
)
def test_bad_uploads_are_refused_with_a_reason(data, reason):
    with pytest.raises(images.ImageRejected, match=reason):
        images.load(data)


def test_upload_size_limit():
    with pytest.raises(images.ImageRejected, match="limit is 1 MB"):
        images.load(b"\xff" * (2 * 2**20), Settings(max_upload_bytes=2**20))


def test_animated_gif_is_refused():
    frames = [Image.new("RGB", (100, 100), c) for c in ("red", "blue")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(images.ImageRejected, match="animated"):
        images.load(data)


def _modes():
    rgb = rgb_of("obama-240p.jpg")
    base = Image.fromarray(rgb)
    grey16 = Image.fromarray((np.asarray(base.convert("L")).astype(np.uint16) * 257), mode="I;16")
    rgba = base.convert("RGBA")
    alpha = np.full((240, 427), 255, np.uint8)
    alpha[:20, :20] = 0  # a transparent corner: composited onto white
    rgba.putalpha(Image.fromarray(alpha))
    return {
        "cmyk-jpeg": encode(base.convert("CMYK"), "JPEG"),
        "16-bit-png": encode(grey16, "PNG"),
        "alpha-png": encode(rgba, "PNG"),
        "palette-png": encode(base.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "greyscale-jpeg": encode(base.convert("L"), "JPEG"),
        "webp": encode(base, "WEBP"),
        "heic": encode(base, "HEIF"),
    }


@pytest.mark.parametrize("name", list(_modes()))
def test_odd_modes_decode_to_8_bit_rgb(name):
    loaded = images.load(_modes()[name])
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (240, 427, 3)
    # Same picture, whatever the container: close to the original's mean brightness.
    assert abs(loaded.rgb.mean() - rgb_of("obama-240p.jpg").mean()) < 40
    if name == "alpha-png":
        assert (loaded.rgb[:20, :20] == 255).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    # A 200x100 image, left half black and right half white, stored with an orientation tag.
    arr = np.zeros((100, 200, 3), np.uint8)
    arr[:, 100:] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    loaded = images.load(encode(Image.fromarray(arr), "JPEG", exif=exif))
    rotated = orientation >= 5
    assert loaded.rgb.shape[:2] == ((200, 100) if rotated else (100, 200))


def test_stored_copy_carries_no_metadata():
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # make
    exif[0xA431] = "SERIAL-123456"  # body serial number
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    exif.get_ifd(0x8769)[36867] = "2025:03:04 08:09:10"
    data = encode(Image.fromarray(rgb_of("obama-240p.jpg")), "JPEG", exif=exif)
    loaded = images.load(data)
    assert loaded.taken_at.isoformat() == "2025-03-04T08:09:10"
    stored = images.encode_jpeg(loaded.rgb)
    assert b"SERIAL-123456" not in stored and b"PhoneMaker" not in stored and b"Exif" not in stored
    assert not Image.open(io.BytesIO(stored)).getexif()


def test_resolving_the_data_home_and_decoding_create_nothing(tmp_path, monkeypatch):
    home = tmp_path / "never-made"
    monkeypatch.setenv("SKINTRACK_HOME", str(home))
    assert Settings().home == home and Settings.for_home().home == home
    images.load(photo_bytes("obama-480p.jpg"))
    images.load(photo_bytes("obama-480p.jpg"), Settings())
    assert not home.exists()

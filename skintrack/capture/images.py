"""Decode and validate uploaded photos.

``load`` turns untrusted bytes into an 8-bit RGB array or raises ``ImageRejected`` with a
one-line reason a person can act on. Orientation from EXIF is applied, then every piece of
metadata is dropped: what is stored is re-encoded from pixels only (no GPS, no serials).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

from skintrack.config import Settings
from skintrack.errors import Refused

register_heif_opener()
ImageFile.LOAD_TRUNCATED_IMAGES = False

ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "HEIF", "GIF", "BMP", "TIFF"}
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME = 306


class ImageRejected(Refused, ValueError):
    """The upload cannot be used as a photo; the message says why."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded photo: upright 8-bit RGB pixels and what we keep about the file."""

    rgb: np.ndarray  # (H, W, 3) uint8, EXIF orientation applied
    sha256: str  # of the uploaded bytes, for finding duplicates
    format: str
    taken_at: datetime | None  # EXIF capture time, if the file had one


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _exif_time(img: Image.Image) -> datetime | None:
    try:
        exif = img.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
        if isinstance(raw, bytes):
            raw = raw.decode("ascii", "ignore")
        return datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
    except (ValueError, TypeError, KeyError, OSError):
        return None


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def load(data: bytes, settings: Settings | None = None) -> LoadedImage:
    """Decode ``data`` into an upright RGB photo, or raise ``ImageRejected`` with the reason."""
    settings = settings or Settings()
    if not data:
        raise ImageRejected("the file is empty")
    if len(data) > settings.max_upload_bytes:
        raise ImageRejected(
            f"the file is {len(data) / 2**20:.0f} MB; the limit is {settings.max_upload_bytes / 2**20:.0f} MB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = (img.format or "").upper()
            if fmt not in ALLOWED_FORMATS:
                raise ImageRejected(f"{fmt or 'this'} files are not supported; use a JPEG, PNG, WebP or HEIC photo")
            width, height = img.size
            if max(width, height) > settings.max_side or width * height > settings.max_pixels:
                raise ImageRejected(
                    f"the image is {width}x{height} pixels; the limit is "
                    f"{settings.max_side} pixels a side and {settings.max_pixels // 10**6} megapixels"
                )
            if min(width, height) < settings.min_side:
                raise ImageRejected(
                    f"the image is only {width}x{height} pixels; at least {settings.min_side} pixels a side are needed"
                )
            if getattr(img, "is_animated", False) and fmt in {"GIF", "PNG", "WEBP"}:
                raise ImageRejected("animated images are not supported; upload a still photo")
            taken_at = _exif_time(img)
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = np.ascontiguousarray(np.asarray(_to_rgb(img), dtype=np.uint8))
    except ImageRejected:
        raise
    except (UnidentifiedImageError, SyntaxError):
        raise ImageRejected("this is not an image; use a JPEG, PNG, WebP or HEIC photo") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("the image declares too many pixels to decode safely") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ImageRejected(f"the image file is truncated or damaged ({exc})") from None
    return LoadedImage(rgb=rgb, sha256=sha256(data), format=fmt, taken_at=taken_at)


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    """Re-encode pixels only: the result carries no EXIF, ICC, XMP or comments."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()

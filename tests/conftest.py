"""Shared fixtures: a fresh data home per test, the test photos, the shared data folder."""

from __future__ import annotations

import io
import os
import struct
import zlib
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("GLOG_minloglevel", "2")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared" / "data"
OUTPUT = ROOT / "test-output"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty data home, also set as $SKINTRACK_HOME for code that reads it."""
    path = tmp_path / "home"
    monkeypatch.setenv("SKINTRACK_HOME", str(path))
    return path


@pytest.fixture
def settings(home):
    from skintrack.config import Settings

    return Settings.for_home(home)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A home with check-ins on 2 and 20 March 2026, a logged day, and acne scores on both
    (the report and its document)."""
    from skintrack import pipeline
    from skintrack.config import Settings
    from skintrack.db import store

    settings = Settings.for_home(tmp_path_factory.mktemp("report") / "home")
    first, _ = pipeline.checkin(settings, photo_bytes("obama-720p.jpg"), datetime(2026, 3, 2, 8, 0))
    last, _ = pipeline.checkin(settings, photo_bytes("biden.jpg"), datetime(2026, 3, 20, 8, 30))
    store.log_day(
        settings,
        date(2026, 3, 10),
        {"sleep_hours": 6.5, "stress": 4},
        [("Gentle cleanser", "AM"), ("Adapalene 0.1%", "PM")],
    )
    # A model's output, written as the classifier would write it (grade probabilities, count).
    rows = []
    for entry_id, probs, lesions in ((first, [0.1, 0.2, 0.6, 0.1], 31.0), (last, [0.5, 0.3, 0.15, 0.05], 6.0)):
        rows += [(entry_id, "acne-test@1", f"acne_grade_p{k}", "face", p) for k, p in enumerate(probs)]
        rows += [(entry_id, "acne-test@1", "acne_grade", "face", sum(k * p for k, p in enumerate(probs)))]
        rows += [(entry_id, "acne-test@1", "lesion_count", "face", lesions)]
    store.add_scores(settings, rows)
    return settings


def photo_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def rgb_of(name: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / name).convert("RGB"))


def labelled_faces(root: Path) -> Path:
    """An acne04-format folder of two test portraits with made-up grades (0 and 1) and counts."""
    folder = root / "faces"
    (folder / "images").mkdir(parents=True)
    rows = ["image,severity_grade,n_lesions"]
    for name, grade in [("obama-480p.jpg", 0), ("biden.jpg", 1)]:
        (folder / "images" / name).write_bytes((DATA / name).read_bytes())
        rows.append(f"images/{name},{grade},{3 * grade}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def darker(rgb: np.ndarray, ita: float = -50.0) -> np.ndarray:
    """``rgb`` with only its face skin re-rendered at ``ita`` degrees (``skintrack.model.tone``,
    feathered): darker skin in the same light, the sclera, teeth and background lit as they
    were. (Darkening the whole photo would be an underexposure of it, not darker skin.)"""
    import cv2

    from skintrack.capture import face
    from skintrack.model import tone

    aligned = face.align(rgb, face.detect(rgb))
    skin = face.face_mask(aligned.landmarks).astype(np.uint8)
    skin = cv2.warpAffine(skin, aligned.matrix, rgb.shape[1::-1], flags=cv2.WARP_INVERSE_MAP | cv2.INTER_NEAREST)
    weight = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), 3)[..., None]
    dark = tone.shift_image(rgb, ita, skin.astype(bool))
    return np.round(dark * weight + rgb * (1 - weight)).astype(np.uint8)


def jpeg_bytes(rgb: np.ndarray, quality: int = 92, **save_args) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, **save_args)
    return buf.getvalue()


def encode(img: Image.Image, fmt: str, **save_args) -> bytes:
    """``img`` saved in ``fmt`` (with Pillow's save arguments) as bytes."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_args)
    return buf.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG that declares width x height but carries almost no data (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def two_faces() -> np.ndarray:
    """Two faces side by side: the 480p portrait cropped to the face, and its mirror image."""
    rgb = rgb_of("obama-480p.jpg")
    crop = rgb[:, 186:666]
    return np.ascontiguousarray(np.hstack([crop, crop[:, ::-1]]))


def with_face_in_corner(scale: float) -> np.ndarray:
    """obama-1080p cropped to a square around his face (the subject fills the frame, as in a
    selfie), with biden's face, shrunk so its eyes are ``scale`` times as far apart as Obama's,
    pasted into the top left corner: someone behind the subject (or, near 1, beside him)."""
    import cv2

    from skintrack.capture import face

    rgb, guest = rgb_of("obama-1080p.jpg"), rgb_of("biden.jpg")
    host = face.detect(rgb)
    x0, y0, x1, y1 = host.box
    side, cx = round(2.4 * (y1 - y0)), round((x0 + x1) / 2)
    rgb = rgb[0:side, cx - side // 2 : cx + side // 2].copy()
    host_eye, guest_face = host.eye_distance, face.detect(guest)
    x0, y0, x1, y1 = guest_face.box
    pad = 0.1 * (x1 - x0)
    crop = guest[max(0, round(y0 - pad)) : round(y1 + pad), max(0, round(x0 - pad)) : round(x1 + pad)]
    k = scale * host_eye / guest_face.eye_distance
    small = cv2.resize(crop, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    rgb[40 : 40 + small.shape[0], 40 : 40 + small.shape[1]] = small
    return rgb


def cut_off(rgb: np.ndarray, side: str, share: float) -> tuple[np.ndarray, tuple[int, int]]:
    """``rgb`` cropped ``share`` of the face's height (or width) into the face from ``side``
    ("bottom", "top" or "left"), and the crop's (left, top) offset in ``rgb``."""
    from skintrack.capture import face

    x0, y0, x1, y1 = face.detect(rgb).box
    if side == "bottom":
        return np.ascontiguousarray(rgb[: round(y1 - share * (y1 - y0))]), (0, 0)
    if side == "top":
        top = round(y0 + share * (y1 - y0))
        return np.ascontiguousarray(rgb[top:]), (0, top)
    if side == "left":
        left = round(x0 + share * (x1 - x0))
        return np.ascontiguousarray(rgb[:, left:]), (left, 0)
    raise ValueError(f"side {side!r}: must be bottom, top or left")


def no_face() -> np.ndarray:
    """scikit-image's cat photo (Chelsea), shipped inside the package."""
    from skimage import data

    return data.chelsea()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared data folder {SHARED} is absent")
    return SHARED

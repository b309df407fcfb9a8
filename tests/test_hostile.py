"""Hostile input everywhere a user can type or upload: each gets a one-line reason or is stored
correctly; never a traceback, never a half-written entry.

The corpus is generated here (nothing binary is committed). ``tests/test_images.py`` checks
``images.load`` on its own; these run the whole check-in and then look at the store.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pytest
from conftest import encode, no_face, photo_bytes, png_declaring, rgb_of, two_faces
from datakit import files_under, table_rows
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from PIL import Image

from skintrack import pipeline
from skintrack.capture import face, images
from skintrack.config import Settings
from skintrack.db import lifestyle, store

REFUSED = (images.ImageRejected, face.FaceRejected, pipeline.CheckinRefused, store.StoreError)


def _face() -> Image.Image:
    return Image.fromarray(rgb_of("obama-1080p.jpg"))


def _oriented(orientation: int) -> bytes:
    """The portrait stored sideways/mirrored with the EXIF tag that puts it upright again."""
    undo = {
        1: [],
        2: [Image.Transpose.FLIP_LEFT_RIGHT],
        3: [Image.Transpose.ROTATE_180],
        4: [Image.Transpose.FLIP_TOP_BOTTOM],
        5: [Image.Transpose.TRANSPOSE],
        6: [Image.Transpose.ROTATE_90],
        7: [Image.Transpose.TRANSVERSE],
        8: [Image.Transpose.ROTATE_270],
    }
    img = Image.fromarray(rgb_of("obama-720p.jpg"))  # smaller than 1080p: eight of these run
    for op in undo[orientation]:
        img = img.transpose(op)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "JPEG", quality=90, exif=exif)


def _cropped(rows: slice, cols: slice) -> bytes:
    """The 1080p portrait (face at x 877-1116, y 125-423) cropped."""
    return encode(Image.fromarray(np.ascontiguousarray(rgb_of("obama-1080p.jpg")[rows, cols])), "JPEG")


def _tiny_face() -> bytes:
    canvas = Image.new("RGB", (1600, 1200), (200, 190, 180))
    canvas.paste(Image.fromarray(rgb_of("obama-240p.jpg")).resize((140, 80)), (700, 560))
    return encode(canvas, "JPEG")


def _animated() -> bytes:
    frames = [_face().resize((320, 180)).convert("P"), Image.new("P", (320, 180))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def corpus() -> dict[str, bytes]:
    """Every hostile or odd upload, by name."""
    good = photo_bytes("obama-1080p.jpg")
    base = _face()
    grey16 = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257, mode="I;16")
    rgba = base.convert("RGBA")
    rgba.putalpha(128)
    out = {
        "zero-bytes": b"",
        "text-renamed-jpg": b"this is a text file, renamed photo.jpg\n",
        "html": b"<html><script>alert('x')</script></html>",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "pdf": b"%PDF-1.7\n1 0 obj<<>>endobj\n",
        "zip": encode(Image.new("RGB", (8, 8)), "PNG")[:0] + b"PK\x03\x04" + b"\x00" * 40,
        "nul-bytes": b"\x00" * 4096,
        "jpeg-magic-then-junk": b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8,
        "png-bad-crc": encode(base.resize((200, 120)), "PNG")[:40]
        + b"\x00\x00\x00\x00"
        + encode(base.resize((200, 120)), "PNG")[44:],
        "bomb-png": png_declaring(40_000, 40_000),
        "20000px": png_declaring(20_000, 1_000),
        "animated-gif": _animated(),
        "cmyk-jpeg": encode(base.convert("CMYK"), "JPEG"),
        "16-bit-png": encode(grey16, "PNG"),
        "palette-png": encode(base.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "alpha-png": encode(rgba, "PNG"),
        "greyscale-jpeg": encode(base.convert("L"), "JPEG"),
        "heic": encode(base, "HEIF"),
        "no-face": encode(Image.fromarray(no_face()), "JPEG"),
        "two-faces": encode(Image.fromarray(two_faces()), "JPEG"),
        "face-cut-by-edge": _cropped(slice(None), slice(0, 1080)),
        "face-cut-at-the-chin": _cropped(slice(0, 380), slice(None)),
        "half-a-face": _cropped(slice(None), slice(0, 900)),
        "tiny-face": _tiny_face(),
        "tiny-face-in-pixels": photo_bytes("obama-240p.jpg"),
    }
    for cut in (100, 2_000, len(good) // 2, len(good) - 10):
        out[f"truncated-at-{cut}"] = good[:cut]
    for k in range(1, 9):
        out[f"exif-orientation-{k}"] = _oriented(k)
    return out


# What each must come to: "stored", or a phrase of the refusal.
EXPECTED = {
    "zero-bytes": "empty",
    "text-renamed-jpg": "not an image",
    "html": "not an image",
    "svg": "not an image",
    "pdf": "not an image",
    "zip": "not an image",
    "nul-bytes": "not an image",
    "jpeg-magic-then-junk": "not an image",
    "png-bad-crc": "not an image",
    "bomb-png": "pixels",
    "20000px": "20000x1000",
    "animated-gif": "animated",
    "cmyk-jpeg": "stored",
    "16-bit-png": "black and white",
    "palette-png": "stored",
    "alpha-png": "stored",
    "greyscale-jpeg": "black and white",
    "heic": "stored",
    "no-face": "no face",
    "two-faces": "2 faces",
    "face-cut-by-edge": "cut by the edge",
    "face-cut-at-the-chin": "stored",  # the chin and the acne grade withheld, the rest kept
    "half-a-face": "no face",
    "tiny-face": "no face",
    "tiny-face-in-pixels": "stored",  # colour kept; fine detail and the acne grade withheld
    **{f"exif-orientation-{k}": "stored" for k in range(1, 9)},
}


def test_the_hostile_corpus_through_the_whole_checkin(settings):
    """36 files: every one is stored whole or refused with a one-line reason, nothing half-written."""
    files = corpus()
    assert all(n in EXPECTED or n.startswith("truncated-at-") for n in files)
    mesh = face.FaceMesh()
    outcomes: dict[str, str] = {}
    for i, (name, data) in enumerate(files.items()):
        before = table_rows(settings), files_under(settings.images_dir)
        try:
            analysis = pipeline.analyse(data, settings, None, mesh)
            entry_id = pipeline.save(settings, analysis, datetime(2026, 1, 1, 8, i))
        except REFUSED as exc:
            reason = str(exc)
            assert reason and "\n" not in reason and "Traceback" not in reason, name
            assert (table_rows(settings), files_under(settings.images_dir)) == before, name
            outcomes[name] = reason
            continue
        row = store.entry(settings, entry_id)
        stored = files_under(settings.images_dir)
        assert {row["image_path"], row["aligned_path"]} <= set(stored), name
        assert len(stored) == len(before[1]) + 2, name
        outcomes[name] = "stored"
    for name, expected in EXPECTED.items():
        if expected == "stored":
            assert outcomes[name] == "stored", f"{name}: {outcomes[name]}"
        else:
            assert outcomes[name] != "stored" and expected in outcomes[name], f"{name}: {outcomes[name]}"
    for name in files:
        if name.startswith("truncated-at-"):
            assert outcomes[name] != "stored" and ("truncated" in outcomes[name] or "not an image" in outcomes[name])
    assert len(store.entries(settings)) == sum(o == "stored" for o in outcomes.values())


# ---------------------------------------------------------------- property-based tests


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_any_bytes_are_an_image_or_a_reason(data):
    try:
        loaded = images.load(data)
    except images.ImageRejected as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert loaded.rgb.dtype == np.uint8 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3


_SEEDS = {
    fmt: encode(Image.fromarray(rgb_of("obama-240p.jpg")).resize((96, 64)), fmt)
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
}


@hsettings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(_SEEDS)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_damaged_real_images_are_decoded_or_refused(fmt, flips, cut):
    data = bytearray(_SEEDS[fmt])
    for pos, value in flips:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        loaded = images.load(bytes(data))
    except images.ImageRejected as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape[2] == 3 and min(loaded.rgb.shape[:2]) >= 64


@hsettings(max_examples=60, deadline=None)
@given(
    st.integers(64, 300),
    st.integers(64, 300),
    st.sampled_from(["RGB", "L", "LA", "RGBA", "P", "CMYK", "I;16", "1"]),
    st.sampled_from(["PNG", "JPEG", "WEBP", "TIFF", "BMP"]),
)
def test_any_mode_and_size_decodes_upright_to_8_bit_rgb(width, height, mode, fmt):
    rng = np.random.default_rng(width * height)
    img = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(
        "L" if mode in ("I;16", "1") else mode if mode != "CMYK" else "RGB"
    )
    if mode == "CMYK":
        img = img.convert("CMYK")
    elif mode in ("I;16", "1"):
        img = img.convert(mode) if mode == "1" else Image.fromarray(np.asarray(img).astype(np.uint16) * 257, "I;16")
    try:
        data = encode(img, fmt)
    except (OSError, ValueError, KeyError):
        return  # this format cannot hold this mode: nothing to upload
    loaded = images.load(data)
    assert loaded.rgb.shape == (height, width, 3) and loaded.rgb.dtype == np.uint8


_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.text(max_size=10), max_size=3),
)
# What each field can receive from the command line or the Lifestyle page, plus junk.
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        **{name: _ANY for name in lifestyle.NUMERIC_FIELDS},
        "diet": st.one_of(st.none(), st.text(max_size=200), st.lists(st.text(max_size=200), max_size=5)),
        "note": st.one_of(st.none(), st.text(max_size=2100)),
    },
)


@hsettings(max_examples=300, deadline=None)
@given(_FIELDS)
def test_lifestyle_validation_accepts_in_range_values_only(values):
    try:
        out = lifestyle.validate(values)
    except lifestyle.InvalidLog as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for name, value in out.items():
        if value is None:
            continue
        if name in lifestyle.NUMERIC_FIELDS:
            spec = lifestyle.NUMERIC_FIELDS[name]
            assert math.isfinite(value) and spec.low <= value <= spec.high
            assert not spec.integer or isinstance(value, int)
        elif name == "note":
            assert len(value) <= lifestyle.MAX_NOTE
        else:
            assert name == "diet" and all(len(t) <= lifestyle.MAX_NAME for t in value)


@pytest.mark.parametrize("values", [{"diet": 5}, {"diet": False}, {"sleep_hours": 10**400}])
def test_lifestyle_validation_refuses_wrong_types_with_a_reason(values):
    with pytest.raises(lifestyle.InvalidLog):
        lifestyle.validate(values)


_NASTY = st.sampled_from(
    [
        "Robert'); DROP TABLE products;--",
        '" OR 1=1 --',
        "<script>alert('x')</script>",
        "😀🧴 SPF 50+",
        "../../etc/passwd",
        "C:\\Windows\\system32",
        "\u202etxt.exe",
        "名前",
        "a\tb",
        "%s %d {0} {name}",
    ]
)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    note=st.one_of(_NASTY, st.text(max_size=200)),
    names=st.lists(
        st.tuples(st.one_of(_NASTY, st.text(min_size=1, max_size=40)), st.sampled_from(["AM", "PM", "noon"])),
        max_size=4,
    ),
)
def test_notes_and_product_names_are_stored_as_typed_or_refused(tmp_path_factory, note, names):
    settings = Settings.for_home(tmp_path_factory.mktemp("log"))
    day = date(2026, 2, 1)
    try:
        values = lifestyle.validate({"note": note, "stress": 3})
        products = lifestyle.validate_products(names)
    except lifestyle.InvalidLog as exc:
        assert str(exc) and "\n" not in str(exc)
        assert any(w not in lifestyle.TIMES_OF_DAY for _, w in names) or any(not " ".join(n.split()) for n, _ in names)
        return
    store.log_day(settings, day, values, products)
    got = store.get_day(settings, day)
    assert got["note"] == (note or None) and got["stress"] == 3
    assert sorted(got["products"]) == sorted(products)
    assert files_under(settings.home).keys() <= {"skintrack.duckdb", "skintrack.duckdb.wal"}


# ---------------------------------------------------------------- where a user types or names files


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--stress", "9"], "stress 9.0 is out of range: 1-5"),
        (["--sleep-hours", "-1"], "out of range: 0-24"),
        (["--sleep-hours", "nan"], "out of range"),
        (["--water", "inf"], "out of range"),
        (["--cycle-day", "2.5"], "whole number"),
        (["--note", "x" * 2001], "at most 2000"),
        (["--product", "Serum:NOON"], "must be one of AM, PM"),
        (["--product", ":AM"], "empty"),
        (["--product", "p" * 121], "longer than 120"),
    ],
    ids=[
        "stress",
        "negative-sleep",
        "nan",
        "inf",
        "fraction",
        "long-note",
        "time-of-day",
        "empty-product",
        "long-product",
    ],
)
def test_the_log_command_refuses_bad_values_in_one_line(settings, capsys, args, reason):
    from skintrack.__main__ import main

    assert main(["log", "2026-03-01", *args, "--home", str(settings.home)]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1, err
    assert store.get_day(settings, date(2026, 3, 1)) is None


def test_the_log_command_stores_quotes_sql_html_and_emoji_as_typed(settings):
    from skintrack.__main__ import main

    note = "it's \"fine\"'); DROP TABLE lifestyle; -- <script>alert(1)</script> 😀"
    products = "Robert'); DROP TABLE products;--:AM,<b>SPF</b> 50 😀:PM"
    assert main(["log", "2026-03-01", "--note", note, "--product", products, "--home", str(settings.home)]) == 0
    got = store.get_day(settings, date(2026, 3, 1))
    assert got["note"] == note
    assert sorted(got["products"]) == [("<b>SPF</b> 50 😀", "PM"), ("Robert'); DROP TABLE products;--", "AM")]


def test_an_upload_named_with_dot_dots_is_stored_by_its_hash_only(home, settings):
    from conftest import ROOT
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    app.switch_page("views/checkin.py").run()
    app.file_uploader[0].set_value(("../../../../tmp/evil\"name'.jpg", photo_bytes("biden.jpg"), "image/jpeg"))
    app.run()
    assert not app.exception
    next(b for b in app.button if b.label == "Save check-in").click().run()
    assert not app.exception
    (row,) = store.entries(settings).to_dict("records")
    assert set(files_under(settings.home)) == {
        "skintrack.duckdb",
        f"images/{row['image_path']}",
        f"images/{row['aligned_path']}",
    }
    assert not any("evil" in p.name for p in home.parent.rglob("*"))


def test_import_copes_with_odd_file_names(tmp_path, settings, capsys):
    from skintrack.__main__ import main

    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / 'it\'s "me" 😀; rm -rf ~.jpg').write_bytes(photo_bytes("biden.jpg"))
    (folder / "..jpg").write_bytes(b"text renamed .jpg")
    (folder / "-rf.png").write_bytes(b"")
    assert main(["import", str(folder), "--home", str(settings.home)]) == 0
    out = capsys.readouterr().out
    assert "stored 1, skipped 0 duplicates, refused 2 of 3 photos" in out
    assert "..jpg: this is not an image" in out and "-rf.png: the file is empty" in out
    assert len(store.entries(settings)) == 1

"""Importing many photos: analyses on threads, the classifier in batches, a transaction per
chunk, and the same scores, duplicates and refusals as checking them in one at a time."""

import re
import shutil

import cv2
import numpy as np
import pytest
from conftest import DATA, cut_off, darker, jpeg_bytes, no_face, rgb_of
from test_quality import posed, underexposed
from test_serving import SIZE, calibrated_model

from skintrack import pipeline
from skintrack.capture import measure, quality
from skintrack.db import archive, erase, schema, store
from skintrack.model import classifier as clf
from skintrack.model import serving


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    metrics = {"accuracy": 0.5, "balanced_accuracy": 0.5, "n": 3}  # a made-up card: never shown
    ckpt = clf.make_checkpoint(calibrated_model(), pre=clf.Preprocess(size=SIZE), metrics=metrics)
    return serving.from_checkpoint(ckpt, cache_dir=tmp_path_factory.mktemp("onnx"))


@pytest.fixture
def folder(tmp_path):
    """Two portraits, one of them twice, a cat twice, and a face too small: sorted as listed."""
    out = tmp_path / "photos"
    out.mkdir()
    shutil.copy(DATA / "obama-1080p.jpg", out / "1-obama.jpg")
    (out / "2-cat.jpg").write_bytes(jpeg_bytes(no_face()))
    shutil.copy(DATA / "biden.jpg", out / "3-biden.jpg")
    shutil.copy(out / "2-cat.jpg", out / "4-cat-again.jpg")
    shutil.copy(DATA / "obama-1080p.jpg", out / "5-obama-again.jpg")
    shutil.copy(DATA / "obama-240p.jpg", out / "6-small.jpg")
    return out


@pytest.mark.parametrize("chunk", [16, 2])  # copies in the same chunk, and in a later one
def test_import_stores_skips_and_refuses_like_one_at_a_time(settings, folder, model, chunk):
    paths = sorted(folder.iterdir())
    steps = []
    done = pipeline.import_photos(settings, paths, model, chunk=chunk, workers=2, progress=steps.append)
    assert len(done.stored) == 3 and done.duplicates == 1 and sum(steps) == len(paths)
    assert [(p.name, r.split(":")[0].split(" (")[0]) for p, r in done.refused] == [
        ("2-cat.jpg", "no face found"),
        ("4-cat-again.jpg", "no face found"),
    ]
    entries = store.entries(settings)
    assert len(entries) == 3 and not store.known_hashes(settings) - {e for e in entries["image_sha256"]}
    # The batched scores are the scores of a check-in of that photo on its own.
    scores = store.scores(settings)
    for entry_id, name in zip(done.stored, ["obama-1080p.jpg", "biden.jpg", "obama-240p.jpg"], strict=True):
        alone = pipeline.analyse((DATA / name).read_bytes(), settings, model).scores()
        got = scores[scores["entry_id"] == entry_id].set_index(["source", "condition", "region"])["value"]
        assert len(got) == len(alone) and (model.source in got.index.get_level_values("source")) == (
            name != "obama-240p.jpg"
        )
        for source, condition, region, value in alone:
            assert got[(source, condition, region)] == pytest.approx(value, abs=1e-4), (name, condition, region)
    again = pipeline.import_photos(settings, paths, model, chunk=chunk)
    assert again.stored == [] and again.duplicates == 4 and len(again.refused) == 2


def test_import_without_a_model_stores_measurements_only(settings, folder):
    done = pipeline.import_photos(settings, sorted(folder.iterdir())[:1], None, workers=1)
    assert len(done.stored) == 1
    assert set(store.scores(settings)["source"]) == {"measure@2"}
    with pytest.raises(ValueError, match="chunk 0: must be at least 1"):
        pipeline.import_photos(settings, [], None, chunk=0)
    assert np.isfinite(store.scores(settings)["value"]).all()


# ---------------------------------------------------------------- withheld measurements


def _stored(settings, entry_id: int) -> tuple[set[str], set[str]]:
    """(conditions with a stored value, conditions recorded as withheld) of one entry."""
    with schema.connect(settings) as con:
        values = {r[0] for r in con.execute("SELECT condition FROM scores WHERE entry_id = ?", [entry_id]).fetchall()}
        held = {r[0] for r in con.execute("SELECT condition FROM withheld WHERE entry_id = ?", [entry_id]).fetchall()}
    return values, held


def test_a_blurred_photo_keeps_its_colour_and_stores_no_texture_or_red_spots(settings):
    rgb = rgb_of("obama-1080p.jpg")
    for sigma in (2.0, 4.0):  # beyond the limit: 3.3 and 5.4 px on the aligned face
        entry_id, analysis = pipeline.checkin(settings, jpeg_bytes(cv2.GaussianBlur(rgb, (0, 0), sigma)))
        values, held = _stored(settings, entry_id)
        assert not {"texture", "red_spots"} & values, sigma
        assert {"texture", "red_spots"} <= held and {"redness", "ita"} <= values
        assert any(
            line.startswith("not measured: Texture") and "too soft" in line
            for line in pipeline.withheld_lines(analysis)
        )


def test_a_photo_at_15_percent_of_the_light_stores_no_colour_value(settings):
    entry_id, _ = pipeline.checkin(settings, jpeg_bytes(underexposed(rgb_of("obama-1080p.jpg"))))
    values, held = _stored(settings, entry_id)
    assert not set(quality.COLOUR) & values and set(quality.COLOUR) <= held
    assert values  # texture is still measured: a dim photo is not refused outright


def test_the_darkest_skin_in_good_light_is_stored_with_its_colour(settings):
    entry_id, analysis = pipeline.checkin(settings, jpeg_bytes(darker(rgb_of("obama-1080p.jpg"), -50.0)))
    values, held = _stored(settings, entry_id)
    assert set(quality.COLOUR) <= values and not held and analysis.quality.ok
    assert measure.value(analysis.measurements, "ita") < -30  # it is dark skin, measured as such


def test_a_turned_or_tilted_head_is_stored_with_what_the_pose_supports_and_the_rest_withheld(settings):
    """Turned 30-40 degrees: skin tone only; tilted 20-30: redness, red area and skin tone; each
    withheld measurement a row with its reason, and a line with the value, the limit and the fix."""
    for (yaw, pitch), kept, says in (
        ((-45.0, 0.0), {"ita"}, r"head turned 3\d degrees \(20 at most for redness, evenness"),
        (
            (0.0, -40.0),
            {"redness", "red_area", "ita"},
            r"head tilted 2\d degrees up or down \(20 at most; only redness",
        ),
    ):
        entry_id, analysis = pipeline.checkin(settings, jpeg_bytes(posed("obama-1080p.jpg", yaw, pitch)))
        values, held = _stored(settings, entry_id)
        assert values == kept, (yaw, pitch)
        assert set(quality.MEASURES) - kept | {"acne_model"} <= held
        lines = [line for line in pipeline.withheld_lines(analysis) if re.search(says, line)]
        assert (
            len(lines) == 1
            and lines[0].startswith("not measured: ")
            and lines[0].endswith("camera" if yaw else "eye level")
        )


def test_a_head_tilted_past_30_degrees_is_refused(settings):
    with pytest.raises(pipeline.CheckinRefused, match=r"head tilted (3[1-9]|4\d) degrees up or down \(30 at most\)"):
        pipeline.checkin(settings, jpeg_bytes(posed("obama-1080p.jpg", 0.0, 45.0)))


def test_a_face_cut_by_the_edge_is_stored_without_the_cut_region_and_the_acne_grade(settings, model):
    crop, _ = cut_off(rgb_of("obama-1080p.jpg"), "bottom", 0.12)
    entry_id, analysis = pipeline.checkin(settings, jpeg_bytes(crop), classifier=model)
    assert analysis.prediction is None  # the acne model's count would miss the chin's lesions
    assert not any(m.region == "chin" for m in analysis.measurements)
    assert {"redness", "ita", "texture"} <= {m.condition for m in analysis.measurements if m.region == "face"}
    with schema.connect(settings) as con:
        held = set(con.execute("SELECT condition, region FROM withheld WHERE entry_id = ?", [entry_id]).fetchall())
        sources = {r[0] for r in con.execute("SELECT source FROM scores WHERE entry_id = ?", [entry_id]).fetchall()}
    assert held == {(quality.EVERY, "chin"), ("acne_model", quality.EVERY)} and sources == {measure.SOURCE}
    assert [line.split(" (")[0] for line in pipeline.withheld_lines(analysis)] == [
        "not measured: acne grade, the chin: chin outside the photo"
    ]


def test_withheld_rows_go_with_their_entry_and_into_an_export(settings):
    with schema.connect(settings) as con:
        assert schema.schema_version(con) == len(schema.MIGRATIONS)
        assert "withheld" in archive._tables(con)
    entry_id, _ = pipeline.checkin(settings, jpeg_bytes(cv2.GaussianBlur(rgb_of("obama-1080p.jpg"), (0, 0), 4.0)))
    assert _stored(settings, entry_id)[1]
    erase.delete_entry(settings, entry_id)
    assert _stored(settings, entry_id) == (set(), set())

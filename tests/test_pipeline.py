"""Importing many photos: analyses on threads, the classifier in batches, a transaction per
chunk, and the same scores, duplicates and refusals as checking them in one at a time."""

import shutil

import numpy as np
import pytest
from conftest import DATA, jpeg_bytes, no_face
from test_serving import SIZE, calibrated_model

from skintrack import classifier as clf
from skintrack import pipeline, serving, store


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
    assert len(done.stored) == 2 and done.duplicates == 1 and sum(steps) == len(paths)
    assert [(p.name, r.split(":")[0].split(" (")[0]) for p, r in done.refused] == [
        ("2-cat.jpg", "no face found"), ("4-cat-again.jpg", "no face found"), ("6-small.jpg", "face too small"),
    ]  # fmt: skip
    entries = store.entries(settings)
    assert len(entries) == 2 and not store.known_hashes(settings) - {e for e in entries["image_sha256"]}
    # The batched scores are the scores of a check-in of that photo on its own.
    scores = store.scores(settings)
    for entry_id, name in zip(done.stored, ["obama-1080p.jpg", "biden.jpg"], strict=True):
        alone = pipeline.analyse((DATA / name).read_bytes(), settings, model).scores()
        got = scores[scores["entry_id"] == entry_id].set_index(["source", "condition", "region"])["value"]
        assert len(got) == len(alone) and model.source in got.index.get_level_values("source")
        for source, condition, region, value in alone:
            assert got[(source, condition, region)] == pytest.approx(value, abs=1e-4), (name, condition, region)
    again = pipeline.import_photos(settings, paths, model, chunk=chunk)
    assert again.stored == [] and again.duplicates == 3 and len(again.refused) == 3


def test_import_without_a_model_stores_measurements_only(settings, folder):
    done = pipeline.import_photos(settings, sorted(folder.iterdir())[:1], None, workers=1)
    assert len(done.stored) == 1
    assert set(store.scores(settings)["source"]) == {"measure@2"}
    with pytest.raises(ValueError, match="chunk 0: must be at least 1"):
        pipeline.import_photos(settings, [], None, chunk=0)
    assert np.isfinite(store.scores(settings)["value"]).all()

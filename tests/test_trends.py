"""The Trends page's reads: one measurement aggregated by DuckDB, the log and product periods."""

from __future__ import annotations

from datetime import date

import numpy as np

from benchmarks import bench
from skintrack.db import products, store
from skintrack.stats import analytics, before_after, trends


def test_trend_data_matches_the_pandas_path(settings):
    template = [
        ("measure@2", "redness", "face", 10.0),
        ("measure@2", "redness", "nose", 12.0),
        ("measure@2", "ita", "face", 40.0),
    ]
    bench.generate_history(settings, 60, template)
    products.start(settings, "Azelaic acid 10%", date(2000, 1, 20), "PM", today=date(2000, 3, 1))
    view = trends.load(settings, "redness", "nose")
    want = analytics.daily_series(store.scores(settings), "redness", "nose")
    assert len(view.series) == len(want) == 60
    assert (view.series["day"].to_numpy() == want["day"].to_numpy()).all()
    for column in ("value", "n", "rolling", "low", "high"):
        assert np.allclose(view.series[column].astype(float), want[column].astype(float), atol=1e-9), column
    assert len(view.log) == 60 and list(view.periods["product"]) == ["Azelaic acid 10%"]
    assert view.periods.equals(before_after.product_periods(products.routine(settings), products.uses(settings)))
    pairs = trends.catalogue(settings)
    assert list(zip(pairs["condition"], pairs["region"], strict=True)) == [
        ("ita", "face"),
        ("redness", "face"),
        ("redness", "nose"),
    ]


def test_trend_data_of_an_empty_home(settings):
    view = trends.load(settings, "redness", "face")
    assert view.series.empty and view.log.empty and view.periods.empty
    assert trends.catalogue(settings).empty


def test_after_a_rescore_both_paths_use_the_new_model(settings):
    # The new source sorts before the old one by name: only the order of storing tells them apart.
    bench.generate_history(settings, 30, [("zz-old@1", "acne_grade", "face", 1.0)])
    ids = store.entries(settings)["id"].tolist()
    store.add_scores(settings, [(i, "aa-new@2", "acne_grade", "face", 2.0) for i in ids])
    scores = store.scores(settings)
    assert analytics.latest_source(scores, "acne_grade") == "aa-new@2"
    assert set(analytics.daily_values(scores)["value"]) == {2.0}
    assert set(trends.load(settings, "acne_grade", "face").series["value"]) == {2.0}


def test_a_withheld_measurement_is_a_gap_on_trends_not_a_value(settings):
    """Day 2's photo is too soft for texture: Trends shows its redness and no texture that day
    (not a zero), and the catalogue still offers texture from day 1."""
    from datetime import datetime

    import cv2
    from conftest import jpeg_bytes, photo_bytes, rgb_of

    from skintrack import pipeline

    pipeline.checkin(settings, photo_bytes("obama-1080p.jpg"), datetime(2026, 3, 1, 8))
    soft = jpeg_bytes(cv2.GaussianBlur(rgb_of("obama-1080p.jpg"), (0, 0), 4.0))
    _, analysis = pipeline.checkin(settings, soft, datetime(2026, 3, 2, 8))
    assert "texture" in {w.condition for w in analysis.withheld}
    redness, texture = trends.load(settings, "redness", "face"), trends.load(settings, "texture", "face")
    assert [d.isoformat() for d in redness.series["day"].dt.date] == ["2026-03-01", "2026-03-02"]
    assert [d.isoformat() for d in texture.series["day"].dt.date] == ["2026-03-01"]
    assert texture.series["value"].notna().all()

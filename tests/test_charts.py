"""Figure builders return the expected traces and shapes; the image views their sizes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from skintrack import demo
from skintrack.report import charts
from skintrack.stats import analytics


def _series():
    days = pd.date_range("2026-01-01", periods=5)
    return analytics.rolling(pd.DataFrame({"day": days, "value": [1.0, 2.0, 3.0, 2.0, 1.0], "n": 1}))


def test_trend_figure_traces_factor_axis_and_product_bands():
    factor = pd.DataFrame({"day": pd.date_range("2026-01-01", periods=3), "value": [7.0, 5.5, 8.0]})
    periods = pd.DataFrame(
        {
            "product": ["A", "B"],
            "start": pd.to_datetime(["2026-01-02", "2026-01-03"]),
            "stop": pd.to_datetime(["2026-01-03", None]),
        }
    )
    fig = charts.trend_figure(_series(), "Redness, face", "a*", factor, "Sleep", periods)
    assert [t.name for t in fig.data] == ["rolling spread", "daily", "7-day mean", "Sleep"]
    daily = fig.data[1]
    assert list(daily.y) == [1.0, 2.0, 3.0, 2.0, 1.0] and daily.customdata[0] == "2026-01-01"
    assert fig.data[3].yaxis == "y2" and fig.layout.yaxis2.overlaying == "y"
    assert len(fig.data[0].x) == 10  # the band goes out and back
    shapes = fig.layout.shapes
    assert len(shapes) == 2 and [a.text for a in fig.layout.annotations] == ["A", "B"]
    assert pd.Timestamp(shapes[1].x1) >= pd.Timestamp("2026-01-05")  # still in use: runs to the last day


def test_a_first_check_in_is_shown_on_a_scale_of_days():
    one = _series().iloc[:1]
    x0, x1 = (pd.Timestamp(v) for v in charts.trend_figure(one, "t", "u").layout.xaxis.range)
    assert x1 - x0 >= pd.Timedelta(days=6) and x0 < pd.Timestamp(one["day"].iloc[0]) < x1
    month = analytics.rolling(pd.DataFrame({"day": pd.date_range("2026-01-01", periods=30), "value": 1.0, "n": 1}))
    assert charts.trend_figure(month, "t", "u").layout.xaxis.range is None  # longer histories: Plotly's own range


def test_trend_figure_empty_series_has_no_traces():
    assert len(charts.trend_figure(_series().iloc[0:0], "t", "u").data) == 0


def test_effects_figure_one_row_per_finding_with_intervals():
    findings = pd.DataFrame(
        {
            "effect": [1.5, -2.0],
            "low": [0.5, -3.0],
            "high": [2.5, -1.0],
            "relative": [0.12, np.nan],
            "rel_low": [0.04, np.nan],
            "rel_high": [0.2, np.nan],
        }
    )
    fig = charts.effects_figure(findings, ["a", "b"])
    trace = fig.data[0]
    assert list(trace.y) == ["a", "b"] and list(trace.x) == [12.0, -2.0]
    assert list(trace.error_x.array) == [8.0, 1.0] and list(trace.error_x.arrayminus) == [8.0, 1.0]


def test_change_figure_greys_out_changes_within_the_noise():
    changes = pd.DataFrame(
        {
            "region": ["nose", "left_cheek"],
            "change": [0.2, 3.0],
            "band": [1.0, 1.0],
            "verdict": ["within noise", "higher"],
        }
    )
    bar = charts.change_figure(changes, "t", "a*").data[0]
    assert list(bar.x) == ["nose", "left cheek"] and list(bar.marker.color) == [charts.GREY, charts.ORANGE]


def test_split_view_and_timelapse_gif():
    a, b = demo.face_image(11.0, 0, seed=1), demo.face_image(15.0, 8, seed=2)
    view = charts.split_view(a, b, 0.25, size=128)
    assert view.shape == (128, 128, 3)
    gif = charts.timelapse_gif([a, b, a], ["1 Jan", "2 Jan", "3 Jan"], 200, size=96)
    img = Image.open(io.BytesIO(gif))
    assert img.format == "GIF" and img.n_frames == 3 and img.size == (96, 96)

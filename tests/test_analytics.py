"""Daily values and trends, and the days behind a chart, on literal frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skintrack.stats import analytics


def _scores(days, values, condition="redness", region="face", source="measure@1"):
    return pd.DataFrame(
        {
            "taken_at": pd.to_datetime(days),
            "entry_id": range(1, len(days) + 1),
            "source": source,
            "condition": condition,
            "region": region,
            "value": values,
        }
    )


def test_daily_values_average_a_days_checkins_and_use_the_latest_source():
    scores = pd.concat(
        [
            _scores(["2026-01-01 08:00", "2026-01-01 20:00", "2026-01-02 08:00"], [10.0, 12.0, 13.0]),
            _scores(["2026-01-03 08:00"], [99.0], source="measure@0").assign(taken_at=pd.Timestamp("2025-12-01")),
        ]
    )
    daily = analytics.daily_values(scores)
    assert list(daily["value"]) == [11.0, 13.0]
    assert list(daily["n"]) == [2, 1]
    assert list(daily["day"]) == list(pd.to_datetime(["2026-01-01", "2026-01-02"]))


def test_rolling_mean_and_band():
    days = pd.date_range("2026-01-01", periods=4)
    out = analytics.rolling(pd.DataFrame({"day": days, "value": [1.0, 3.0, 5.0, 7.0]}), window=2)
    assert list(out["rolling"]) == [1.0, 2.0, 4.0, 6.0]
    assert out["high"].iloc[1] - out["rolling"].iloc[1] == pytest.approx(np.std([1, 3], ddof=1))


def test_timelapse_entries_one_a_day_and_thinned():
    entries = pd.DataFrame(
        {
            "id": range(6),
            "taken_at": pd.to_datetime(
                [
                    "2026-01-01 08:00",
                    "2026-01-01 20:00",
                    "2026-01-02 08:00",
                    "2026-01-03 08:00",
                    "2026-01-04 08:00",
                    "2026-01-09 08:00",
                ]
            ),
        }
    )
    out = analytics.timelapse_entries(entries, pd.Timestamp("2026-01-01").date(), pd.Timestamp("2026-01-04").date())
    assert list(out["id"]) == [0, 2, 3, 4]
    assert (
        len(
            analytics.timelapse_entries(
                entries, pd.Timestamp("2026-01-01").date(), pd.Timestamp("2026-01-09").date(), 3
            )
        )
        == 3
    )


def test_selected_day_from_a_chart_click():
    assert analytics.selected_day([{"x": "2026-01-05", "customdata": "2026-01-04"}]).isoformat() == "2026-01-04"
    assert analytics.selected_day([{"x": "2026-01-05 00:00"}]).isoformat() == "2026-01-05"
    assert analytics.selected_day([]) is None


def test_entry_days_and_entries_on():
    entries = pd.DataFrame(
        {"id": [1, 2, 3], "taken_at": pd.to_datetime(["2026-01-02 20:00", "2026-01-01 08:00", "2026-01-02 08:00"])}
    )
    assert [d.isoformat() for d in analytics.entry_days(entries)] == ["2026-01-01", "2026-01-02"]
    assert list(analytics.entries_on(entries, pd.Timestamp("2026-01-02").date())["id"]) == [3, 1]


def test_selected_day_ignores_numbers_and_bad_strings():
    assert (
        analytics.selected_day(
            [{"x": 1767225600000}, {"customdata": ["not a day"]}, {"customdata": ["2026-02-01"]}]
        ).isoformat()
        == "2026-02-01"
    )


def test_logged_any():
    log = pd.DataFrame({"day": pd.to_datetime(["2026-01-01"]), "cycle_day": [np.nan], "stress": [2]})
    assert not analytics.logged_any(log, "cycle_day") and analytics.logged_any(log, "stress")
    assert not analytics.logged_any(log.iloc[0:0], "stress")

"""Analytics on literal frames and on generated histories with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skintrack import analytics, demo
from skintrack.analytics import InsightConfig

FAST = InsightConfig(n_boot=200)


def _scores(days, values, condition="redness", region="face", source="measure@1"):
    return pd.DataFrame({
        "taken_at": pd.to_datetime(days), "entry_id": range(1, len(days) + 1), "source": source,
        "condition": condition, "region": region, "value": values,
    })  # fmt: skip


def test_daily_values_average_a_days_checkins_and_use_the_latest_source():
    scores = pd.concat([
        _scores(["2026-01-01 08:00", "2026-01-01 20:00", "2026-01-02 08:00"], [10.0, 12.0, 13.0]),
        _scores(["2026-01-03 08:00"], [99.0], source="measure@0").assign(taken_at=pd.Timestamp("2025-12-01")),
    ])  # fmt: skip
    daily = analytics.daily_values(scores)
    assert list(daily["value"]) == [11.0, 13.0]
    assert list(daily["n"]) == [2, 1]
    assert list(daily["day"]) == list(pd.to_datetime(["2026-01-01", "2026-01-02"]))


def test_rolling_mean_and_band():
    days = pd.date_range("2026-01-01", periods=4)
    out = analytics.rolling(pd.DataFrame({"day": days, "value": [1.0, 3.0, 5.0, 7.0]}), window=2)
    assert list(out["rolling"]) == [1.0, 2.0, 4.0, 6.0]
    assert out["high"].iloc[1] - out["rolling"].iloc[1] == pytest.approx(np.std([1, 3], ddof=1))


def test_bh_adjust_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    q = analytics.bh_adjust(p)
    assert q[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert np.isnan(q[4])


def test_exposures_mark_thresholds_and_diet_tags():
    log = pd.DataFrame({
        "day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
        "sleep_hours": [5.5, 7.0, np.nan],
        "diet": [["dairy"], [], ["sugar", "dairy"]],
    })  # fmt: skip
    factors, words = analytics.exposures(log)
    assert factors["short sleep"].tolist()[:2] == [1.0, 0.0] and np.isnan(factors["short sleep"].iloc[2])
    assert factors["diet: dairy"].tolist() == [1.0, 0.0, 1.0]
    assert words["short sleep"] == "nights under 6 h of sleep"


def test_not_enough_data_is_said_and_nothing_tested():
    h = demo.generate(20, seed=1)
    res = analytics.lagged_effects(analytics.daily_values(h.scores, ("face",)), analytics.exposures(h.log)[0], FAST)
    assert (res["status"] == "not enough data").all()


def test_planted_effect_is_recovered_within_its_interval():
    h = demo.generate(120, seed=3)
    res = analytics.lagged_effects(analytics.daily_values(h.scores, ("face",)), analytics.exposures(h.log)[0], FAST)
    found = res[res["status"] == "reported"]
    sleep = found[(found["factor"] == "short sleep") & (found["condition"] == "redness") & (found["lag"] == 1)]
    assert len(sleep) == 1
    row = sleep.iloc[0]
    assert row["effect"] > 0 and row["low"] <= demo.PLANTED[0].effect <= row["high"]
    assert abs(row["effect"] - demo.PLANTED[0].effect) < 0.6
    # The non-effect stays silent, and the trend of the skin is not passed off as a habit.
    assert not (found["factor"] == "little water").any()


def test_histories_without_effects_report_nothing_in_at_least_95_percent_of_seeds():
    # Each seed is one history with no effect at all. BH at 5% over ~240 tests allows at
    # most a 5% chance of any report per history: at most 1 of 20 seeds may report.
    silent = []
    for seed in range(1000, 1020):
        h = demo.generate(120, seed=seed, planted=False)
        res = analytics.lagged_effects(analytics.daily_values(h.scores, ("face",)), analytics.exposures(h.log)[0], FAST)
        assert res["status"].isin(["tested", "reported"]).sum() > 100
        silent.append(not (res["status"] == "reported").any())
    assert sum(silent) >= 19, f"{20 - sum(silent)} of 20 histories without effects reported one"


def test_products_without_effects_report_nothing_in_at_least_95_percent_of_seeds():
    silent = []
    for seed in range(2000, 2020):
        h = demo.generate(120, seed=seed, planted=False)
        daily = analytics.daily_values(h.scores, ("face",))
        res = analytics.product_effects(daily, analytics.product_periods(h.routine, h.uses), FAST)
        assert res["status"].isin(["tested", "reported"]).sum() >= 6
        silent.append(not (res["status"] == "reported").any())
    assert sum(silent) >= 19, f"{20 - sum(silent)} of 20 histories without effects reported a product effect"


def test_product_before_after_on_a_literal_frame():
    days = pd.date_range("2026-01-01", periods=70)
    noise = np.tile([0.3, -0.2, 0.1, -0.3, 0.2, 0.0, -0.1], 10)
    values = np.where(days < pd.Timestamp("2026-02-01"), 12.0, 10.0) + noise
    daily = pd.DataFrame({"day": days, "condition": "redness", "region": "face", "value": values, "n": 1})
    periods = pd.DataFrame({"product": ["Azelaic"], "start": [pd.Timestamp("2026-02-01")], "stop": [pd.NaT]})
    res = analytics.product_effects(daily, periods, InsightConfig(window_days=21, settle_days=7, min_window_days=7))
    row = res.iloc[0]
    assert row["n_before"] == 21 and row["n_after"] == 21  # 11 Jan - 31 Jan; 8 Feb - 28 Feb
    assert row["effect"] == pytest.approx(-2.0, abs=0.15)
    assert row["low"] < row["effect"] < row["high"] < 0
    assert row["status"] == "reported"


def test_product_without_a_before_window_says_not_enough_data():
    days = pd.date_range("2026-01-01", periods=30)
    daily = pd.DataFrame({"day": days, "condition": "redness", "region": "face", "value": 10.0, "n": 1})
    periods = pd.DataFrame({"product": ["Cleanser"], "start": [days[0]], "stop": [pd.NaT]})
    row = analytics.product_effects(daily, periods, FAST).iloc[0]
    assert row["status"] == "not enough data"
    assert "0 before" in row["reason"]


def test_product_periods_from_routine_and_logged_runs():
    routine = pd.DataFrame({"product": ["A"], "start": [pd.Timestamp("2026-01-05")], "stop": [pd.NaT]})
    uses = pd.DataFrame({
        "day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-20", "2026-01-03"]),
        "product": ["B", "B", "B", "A"], "time_of_day": "AM",
    })  # fmt: skip
    out = analytics.product_periods(routine, uses)
    assert list(out["product"]) == ["B", "A", "B"]
    assert out.iloc[0]["stop"] == pd.Timestamp("2026-01-02")


def test_changes_only_beyond_the_noise_band():
    days = pd.date_range("2026-01-01", periods=20)
    values = np.r_[np.tile([10.0, 10.4], 5), [10.2, 10.2, 10.2, 13.0, 13.0, 13.0, 13.2, 13.2, 13.2, 13.2]]
    daily = pd.DataFrame({"day": days, "condition": "redness", "region": "face", "value": values, "n": 1})
    bands = analytics.noise_bands(daily, measured=lambda condition, region: 0.5)
    assert bands.iloc[0]["basis"] == "measured"
    out = analytics.compare_days(daily, days[0], days[-1], bands)
    assert out.iloc[0]["verdict"] == "higher" and out.iloc[0]["change"] == pytest.approx(3.2)
    small = analytics.compare_days(daily, days[0], days[1], bands)
    assert small.iloc[0]["verdict"] == "within noise"
    spread = analytics.noise_bands(daily)  # no published repeatability: the day-to-day spread
    assert spread.iloc[0]["basis"] == "day-to-day spread"
    assert spread.iloc[0]["band"] == pytest.approx(1.96 * np.std(np.diff(values), ddof=1))
    recent = analytics.recent_changes(daily, bands)
    assert recent.iloc[0]["verdict"] == "higher"


def test_timelapse_entries_one_a_day_and_thinned():
    entries = pd.DataFrame({
        "id": range(6), "taken_at": pd.to_datetime(["2026-01-01 08:00", "2026-01-01 20:00", "2026-01-02 08:00",
                                                    "2026-01-03 08:00", "2026-01-04 08:00", "2026-01-09 08:00"]),
    })  # fmt: skip
    out = analytics.timelapse_entries(entries, pd.Timestamp("2026-01-01").date(), pd.Timestamp("2026-01-04").date())
    assert list(out["id"]) == [0, 2, 3, 4]
    assert len(analytics.timelapse_entries(entries, pd.Timestamp("2026-01-01").date(), pd.Timestamp("2026-01-09").date(), 3)) == 3


def test_selected_day_from_a_chart_click():
    assert analytics.selected_day([{"x": "2026-01-05", "customdata": "2026-01-04"}]).isoformat() == "2026-01-04"
    assert analytics.selected_day([{"x": "2026-01-05 00:00"}]).isoformat() == "2026-01-05"
    assert analytics.selected_day([]) is None


def test_entry_days_and_entries_on():
    entries = pd.DataFrame({"id": [1, 2, 3], "taken_at": pd.to_datetime(["2026-01-02 20:00", "2026-01-01 08:00", "2026-01-02 08:00"])})
    assert [d.isoformat() for d in analytics.entry_days(entries)] == ["2026-01-01", "2026-01-02"]
    assert list(analytics.entries_on(entries, pd.Timestamp("2026-01-02").date())["id"]) == [3, 1]


def test_selected_day_ignores_numbers_and_bad_strings():
    assert analytics.selected_day([{"x": 1767225600000}, {"customdata": ["not a day"]}, {"customdata": ["2026-02-01"]}]).isoformat() == "2026-02-01"


def test_logged_any():
    log = pd.DataFrame({"day": pd.to_datetime(["2026-01-01"]), "cycle_day": [np.nan], "stress": [2]})
    assert not analytics.logged_any(log, "cycle_day") and analytics.logged_any(log, "stress")
    assert not analytics.logged_any(log.iloc[0:0], "stress")


def test_companions_name_factors_that_come_on_the_same_days():
    days = pd.date_range("2026-01-01", periods=30)
    late = np.tile([1.0, 0.0, 0.0], 10)
    factors = pd.DataFrame({"short sleep": late, "alcohol": late, "sun": np.tile([1.0, 0.0], 15)}, index=days)
    assert analytics.companions(factors, "short sleep") == ["alcohol"]
    assert analytics.companions(factors, "sun") == []


def test_exposures_accept_days_logged_without_diet(settings):
    """A day logged without diet tags reads back as NULL: no crash, and no diet factor that day."""
    from datetime import date

    from skintrack import store

    store.log_day(settings, date(2026, 3, 1), {"sleep_hours": 5.0})
    store.log_day(settings, date(2026, 3, 2), {"sleep_hours": 8.0, "diet": ["dairy"]})
    factors, _ = analytics.exposures(store.lifestyle(settings))
    assert list(factors["diet: dairy"]) == [0.0, 1.0]

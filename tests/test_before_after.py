"""Products before and after, on literal frames and generated histories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skintrack import demo
from skintrack.stats import analytics, before_after
from skintrack.stats.effects import InsightConfig

FAST = InsightConfig(n_boot=200)


def test_products_without_effects_report_nothing_in_at_least_95_percent_of_seeds():
    silent = []
    for seed in range(2000, 2020):
        h = demo.generate(120, seed=seed, planted=False)
        daily = analytics.daily_values(h.scores, ("face",))
        res = before_after.product_effects(daily, before_after.product_periods(h.routine, h.uses), FAST)
        assert res["status"].isin(["tested", "reported"]).sum() >= 6
        silent.append(not (res["status"] == "reported").any())
    assert sum(silent) >= 19, f"{20 - sum(silent)} of 20 histories without effects reported a product effect"


def test_product_before_after_on_a_literal_frame():
    days = pd.date_range("2026-01-01", periods=70)
    noise = np.tile([0.3, -0.2, 0.1, -0.3, 0.2, 0.0, -0.1], 10)
    values = np.where(days < pd.Timestamp("2026-02-01"), 12.0, 10.0) + noise
    daily = pd.DataFrame({"day": days, "condition": "redness", "region": "face", "value": values, "n": 1})
    periods = pd.DataFrame({"product": ["Azelaic"], "start": [pd.Timestamp("2026-02-01")], "stop": [pd.NaT]})
    res = before_after.product_effects(daily, periods, InsightConfig(window_days=21, settle_days=7, min_window_days=7))
    row = res.iloc[0]
    assert row["n_before"] == 21 and row["n_after"] == 21  # 11 Jan - 31 Jan; 8 Feb - 28 Feb
    assert row["effect"] == pytest.approx(-2.0, abs=0.15)
    assert row["low"] < row["effect"] < row["high"] < 0
    assert row["status"] == "reported"


def test_product_without_a_before_window_says_not_enough_data():
    days = pd.date_range("2026-01-01", periods=30)
    daily = pd.DataFrame({"day": days, "condition": "redness", "region": "face", "value": 10.0, "n": 1})
    periods = pd.DataFrame({"product": ["Cleanser"], "start": [days[0]], "stop": [pd.NaT]})
    row = before_after.product_effects(daily, periods, FAST).iloc[0]
    assert row["status"] == "not enough data"
    assert "0 before" in row["reason"]


def test_product_periods_from_routine_and_logged_runs():
    routine = pd.DataFrame({"product": ["A"], "start": [pd.Timestamp("2026-01-05")], "stop": [pd.NaT]})
    uses = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-20", "2026-01-03"]),
            "product": ["B", "B", "B", "A"],
            "time_of_day": "AM",
        }
    )
    out = before_after.product_periods(routine, uses)
    assert list(out["product"]) == ["B", "A", "B"]
    assert out.iloc[0]["stop"] == pd.Timestamp("2026-01-02")

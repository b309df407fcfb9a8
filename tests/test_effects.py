"""Lagged effects on literal frames and on generated histories with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from skintrack import demo
from skintrack.stats import analytics, effects
from skintrack.stats.effects import InsightConfig

FAST = InsightConfig(n_boot=200)


def test_bh_adjust_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    q = effects.bh_adjust(p)
    assert q[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert np.isnan(q[4])


def test_exposures_mark_thresholds_and_diet_tags():
    log = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"]),
            "sleep_hours": [5.5, 7.0, np.nan],
            "diet": [["dairy"], [], ["sugar", "dairy"]],
        }
    )
    factors, words = effects.exposures(log)
    assert factors["short sleep"].tolist()[:2] == [1.0, 0.0] and np.isnan(factors["short sleep"].iloc[2])
    assert factors["diet: dairy"].tolist() == [1.0, 0.0, 1.0]
    assert words["short sleep"] == "nights under 6 h of sleep"


def test_not_enough_data_is_said_and_nothing_tested():
    h = demo.generate(20, seed=1)
    res = effects.lagged_effects(analytics.daily_values(h.scores, ("face",)), effects.exposures(h.log)[0], FAST)
    assert (res["status"] == "not enough data").all()


def test_planted_effect_is_recovered_within_its_interval():
    h = demo.generate(120, seed=3)
    res = effects.lagged_effects(analytics.daily_values(h.scores, ("face",)), effects.exposures(h.log)[0], FAST)
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
        res = effects.lagged_effects(analytics.daily_values(h.scores, ("face",)), effects.exposures(h.log)[0], FAST)
        assert res["status"].isin(["tested", "reported"]).sum() > 100
        silent.append(not (res["status"] == "reported").any())
    assert sum(silent) >= 19, f"{20 - sum(silent)} of 20 histories without effects reported one"


def test_companions_name_factors_that_come_on_the_same_days():
    days = pd.date_range("2026-01-01", periods=30)
    late = np.tile([1.0, 0.0, 0.0], 10)
    factors = pd.DataFrame({"short sleep": late, "alcohol": late, "sun": np.tile([1.0, 0.0], 15)}, index=days)
    assert effects.companions(factors, "short sleep") == ["alcohol"]
    assert effects.companions(factors, "sun") == []


def test_exposures_accept_days_logged_without_diet(settings):
    """A day logged without diet tags reads back as NULL: no crash, and no diet factor that day."""
    from datetime import date

    from skintrack.db import store

    store.log_day(settings, date(2026, 3, 1), {"sleep_hours": 5.0})
    store.log_day(settings, date(2026, 3, 2), {"sleep_hours": 8.0, "diet": ["dairy"]})
    factors, _ = effects.exposures(store.lifestyle(settings))
    assert list(factors["diet: dairy"]) == [0.0, 1.0]


def _reference_block_bootstrap_se(x: np.ndarray, r: np.ndarray, block: int, n_boot: int, seed: int) -> float:
    """The textbook circular moving-block bootstrap, one resample at a time: n // block blocks
    of consecutive days (wrapping around) with uniform starts, the difference of group means
    on each resampled series, and the spread of those differences."""
    rng = np.random.default_rng(seed)
    n = len(x)
    diffs = []
    for _ in range(n_boot):
        days = np.concatenate([(start + np.arange(block)) % n for start in rng.integers(0, n, n // block)])
        xb, rb = x[days], r[days]
        if 0 < xb.sum() < len(xb):
            diffs.append(rb[xb == 1].mean() - rb[xb == 0].mean())
    return float(np.std(diffs, ddof=1))


def test_vectorised_block_bootstrap_matches_a_resample_by_resample_reference():
    # A factor that comes in runs of days and a skin state that wanders (AR(1), phi 0.9): here the
    # blocks matter, so resampling single days or misplacing the blocks would shrink the interval.
    n, rng = 210, np.random.default_rng(7)
    days = pd.date_range("2026-01-01", periods=n)
    x, state = np.zeros(n), np.zeros(n)
    for i in range(1, n):
        x[i] = x[i - 1] if rng.random() < 0.85 else 1 - x[i - 1]
        state[i] = 0.9 * state[i - 1] + rng.normal(0, 1.0)
    daily = pd.DataFrame({"day": days, "condition": "redness", "region": "face", "value": 12 + state, "n": 1})
    factors = pd.DataFrame({"runs": x}, index=pd.DatetimeIndex(days, name="day"))
    config = InsightConfig(lags=(0,), n_boot=1000, seed=3)
    row = effects.lagged_effects(daily, factors, config).iloc[0]
    assert row["status"] == "tested" and row["n_days"] == n

    t = np.arange(n, dtype=float)
    resid = daily["value"].to_numpy() - np.polyval(np.polyfit(t, daily["value"].to_numpy(), 1), t)
    assert row["effect"] == pytest.approx(resid[x == 1].mean() - resid[x == 0].mean(), abs=1e-12)
    want = _reference_block_bootstrap_se(x, resid, 7, 3000, seed=11)
    got = (row["high"] - row["low"]) / (2 * stats.t.ppf(0.975, row["df"]))
    assert row["df"] == n // 7 - 1
    # Monte Carlo noise of the two standard errors (1000 and 3000 resamples) is about 2.6%.
    assert got == pytest.approx(want, rel=0.1)
    single_days = _reference_block_bootstrap_se(x, resid, 1, 3000, seed=11)
    assert want > 1.4 * single_days  # so the check above tells blocks from single days


def test_resample_weights_are_whole_circular_blocks():
    w = effects._resample_weights(10, 3, 500, np.random.default_rng(0))
    assert w.shape == (500, 10) and (w.sum(1) == 9).all()  # 3 blocks of 3 days each
    # Every day is covered equally often on average, the last and first days by wrapped blocks.
    assert np.allclose(w.mean(0), 0.9, atol=0.1)


def test_only_the_last_history_days_are_analysed():
    h = demo.generate(200, seed=4)
    daily, factors = analytics.daily_values(h.scores, ("face",)), effects.exposures(h.log)[0]
    short = effects.lagged_effects(daily, factors, InsightConfig(n_boot=100, history_days=60))
    whole = effects.lagged_effects(daily, factors, InsightConfig(n_boot=100, history_days=None))
    assert short["n_days"].max() <= 60 < whole["n_days"].max()

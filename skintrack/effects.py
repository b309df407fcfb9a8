"""Lagged effects of lifestyle factors on the scores, with bootstrap intervals and a
correction for testing many things (DataFrame -> DataFrame).

The statistics, in brief (README, "Insights: what they can and cannot tell"):
- a lagged effect compares the score ``lag`` days after days with a factor against the
  score after logged days without it, on the score with its linear trend removed (a slow
  drift over months must not pass for an effect of a habit that changed meanwhile);
- uncertainty comes from a moving-block bootstrap (blocks of a week keep the day-to-day
  correlation of skin and habits), as a t interval on the bootstrap standard error;
- nothing is tested below a minimum amount of data, and every factor x lag x score tested
  enters one Benjamini-Hochberg correction; the intervals of the findings that pass are
  widened for that selection (Benjamini-Yekutieli false coverage rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .lifestyle import EXPOSURES


@dataclass(frozen=True)
class InsightConfig:
    """How the insights are computed; the defaults are what the app and command use."""

    # Days between a factor and the score it may affect (0 = the same day).
    lags: tuple[int, ...] = tuple(range(8))
    # Bootstrap resamples per test; the p-value uses their standard error, so a few
    # hundred already give stable answers.
    n_boot: int = 1000
    # False discovery rate for Benjamini-Hochberg; intervals are at 1 - alpha.
    alpha: float = 0.05
    # Fewest days with and without the factor (at one lag) before a test is made.
    min_group: int = 8
    # Fewest days with both the factor logged and a score before a test is made.
    min_days: int = 28
    # Block length in days of the moving-block bootstrap.
    block: int = 7
    # Products: days after the start that are skipped, and the length of each window.
    settle_days: int = 14
    window_days: int = 28
    # Products: fewest days with check-ins in each window.
    min_window_days: int = 7
    seed: int = 0


# ---------------------------------------------------------------- factors


def exposures(log: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The yes/no factors of each logged day, and their plain words.

    Returns a frame indexed by day (Timestamp) with one column per factor, 1.0 (yes),
    0.0 (no) or NaN (not logged), and {factor: words}. Diet tags count as "no" on a
    logged day without the tag.
    """
    words: dict[str, str] = {}
    if log.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="day")), words
    days = pd.DatetimeIndex(pd.to_datetime(log["day"]), name="day")
    out = {}
    for exp in EXPOSURES:
        if exp.field in log:
            column = exp.applies(log[exp.field].to_numpy(dtype=float))
            if np.nansum(column) > 0:
                out[exp.name], words[exp.name] = column, exp.words
    diets = [[] if d is None or pd.api.types.is_scalar(d) else list(d) for d in log.get("diet", [])]
    for tag in sorted({t for tags in diets for t in tags}):
        out[f"diet: {tag}"] = np.array([float(tag in tags) for tags in diets])
        words[f"diet: {tag}"] = f"days with {tag}"
    return pd.DataFrame(out, index=days), words


def companions(factors: pd.DataFrame, factor: str, threshold: float = 0.3, min_days: int = 14) -> list[str]:
    """Other factors that tend to come on the same days as ``factor`` (|phi| >= ``threshold``
    over days where both are logged): an effect of one cannot be told apart from the other."""
    if factor not in factors:
        return []
    out = []
    for other in factors.columns:
        if other == factor:
            continue
        both = factors[[factor, other]].dropna()
        if len(both) < min_days or both[factor].nunique() < 2 or both[other].nunique() < 2:
            continue
        if abs(np.corrcoef(both[factor], both[other])[0, 1]) >= threshold:
            out.append(other)
    return out


# ---------------------------------------------------------------- statistics


def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values); NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = adjusted
    q[ok] = out
    return q


def _block_starts(n: int, block: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Circular moving-block bootstrap: (n_boot, n // block) random block starts."""
    return rng.integers(0, n, size=(n_boot, max(n // block, 1)))


def _block_sums(values: np.ndarray, block: int) -> np.ndarray:
    """The sum of ``block`` consecutive values starting at each index, wrapping around."""
    wrapped = np.concatenate([values, values[: block - 1]])
    csum = np.concatenate([[0.0], np.cumsum(wrapped)])
    return csum[block : block + len(values)] - csum[: len(values)]


def _group_means(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of y where x == 1 and where x == 0, along the last axis (NaN for an empty group)."""
    n1 = x.sum(-1)
    n0 = x.shape[-1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(-1) / n1, ((1 - x) * y).sum(-1) / n0


def t_interval(effect: float, se: float, df: int, level: float) -> tuple[float, float, float]:
    """p-value and a two-sided interval from an estimate, its standard error and t df."""
    if not np.isfinite(se) or se <= 0:
        return np.nan, np.nan, np.nan
    p = 2 * stats.t.sf(abs(effect) / se, df)
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return p, effect - half, effect + half


def _detrend(days: pd.DatetimeIndex, values: np.ndarray) -> np.ndarray:
    t = (days - days[0]).days.to_numpy(dtype=float)
    if len(values) < 3 or np.ptp(t) == 0:
        return values - values.mean()
    slope, intercept = np.polyfit(t, values, 1)
    return values - (intercept + slope * t)


def correct_for_selection(frame: pd.DataFrame, config: InsightConfig) -> pd.DataFrame:
    """BH across every test made; widen the intervals of the findings for the selection."""
    frame = frame.copy()
    frame["q"] = bh_adjust(frame["p"].to_numpy())
    tested = frame["p"].notna()
    frame.loc[tested, "status"] = "tested"
    reported = tested & (frame["q"] <= config.alpha)
    frame.loc[reported, "status"] = "reported"
    m, r = int(tested.sum()), int(reported.sum())
    if r:
        level = 1 - r * config.alpha / m  # Benjamini-Yekutieli (2005) false coverage rate
        for i in frame.index[reported]:
            row = frame.loc[i]
            scale = stats.t.ppf(0.5 + level / 2, row["df"]) / stats.t.ppf(1 - config.alpha / 2, row["df"])
            for lo, hi, mid in (("low", "high", "effect"), ("rel_low", "rel_high", "relative")):
                if np.isfinite(row[mid]):
                    frame.loc[i, lo] = row[mid] - (row[mid] - row[lo]) * scale
                    frame.loc[i, hi] = row[mid] + (row[hi] - row[mid]) * scale
    frame["tests"] = m
    return frame


LAGGED_COLUMNS = [
    "factor", "condition", "region", "lag", "n_days", "n_exposed", "n_unexposed", "baseline",
    "effect", "low", "high", "relative", "rel_low", "rel_high", "df", "p", "q", "status", "tests",
]  # fmt: skip


def lagged_effects(daily: pd.DataFrame, factors: pd.DataFrame, config: InsightConfig = InsightConfig()) -> pd.DataFrame:
    """For each factor, score (condition, region) and lag: score after days with the factor
    minus score after logged days without it, with its interval and BH-corrected verdict.

    ``daily`` as from ``daily_values``; ``factors`` as from ``exposures``. ``status`` is
    "not enough data", "tested" or "reported". ``relative`` is the effect as a share of the
    mean without the factor, only for measurements that are never negative.
    """
    rng = np.random.default_rng(config.seed)
    rows = []
    if daily.empty or factors.empty:
        return pd.DataFrame(columns=LAGGED_COLUMNS)
    for (condition, region), one in daily.groupby(["condition", "region"], sort=True):
        days = pd.DatetimeIndex(one["day"])
        raw = one["value"].to_numpy(dtype=float)
        resid = _detrend(days, raw)
        positive = bool((raw >= 0).all() and raw.mean() > 0)
        for lag in config.lags:
            shifted = factors.reindex(days - pd.Timedelta(days=lag))
            for factor in factors.columns:
                x_all = shifted[factor].to_numpy(dtype=float)
                ok = ~np.isnan(x_all)
                x, r, y = x_all[ok], resid[ok], raw[ok]
                n, n1 = len(x), int(x.sum())
                row = {
                    "factor": factor, "condition": condition, "region": region, "lag": lag, "n_days": n,
                    "n_exposed": n1, "n_unexposed": n - n1, "status": "not enough data",
                }  # fmt: skip
                if n < config.min_days or min(n1, n - n1) < config.min_group:
                    rows.append(row)
                    continue
                m1, m0 = _group_means(x, r)
                effect = float(m1 - m0)
                baseline = float(y[x == 0].mean())
                # Resample whole blocks through their sums: as exact as resampling the days
                # and fast enough for ten years of history.
                block = min(config.block, n)
                starts = _block_starts(n, block, config.n_boot, rng)
                n1s = _block_sums(x, block)[starts].sum(1)
                s1s = _block_sums(x * r, block)[starts].sum(1)
                ss = _block_sums(r, block)[starts].sum(1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    boot = s1s / n1s - (ss - s1s) / (starts.shape[1] * block - n1s)
                df = max(-(-n // config.block) - 1, 1)
                p, low, high = t_interval(effect, float(np.nanstd(boot, ddof=1)), df, 1 - config.alpha)
                rel = rel_low = rel_high = np.nan
                if positive and baseline > 0:
                    # Relative to the mean without the factor, which rests on most of the days:
                    # the same interval, rescaled, so that the two always tell the same story.
                    rel, rel_low, rel_high = effect / baseline, low / baseline, high / baseline
                row.update(baseline=baseline, effect=effect, low=low, high=high, relative=rel,
                           rel_low=rel_low, rel_high=rel_high, df=df, p=p)  # fmt: skip
                rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=LAGGED_COLUMNS)
    return correct_for_selection(frame, config)

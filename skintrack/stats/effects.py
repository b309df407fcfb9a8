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

from skintrack.db.lifestyle import EXPOSURES


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
    # Lagged effects: the most recent days analysed (None: the whole history). Habits, products
    # and seasons move on, so a finding should describe the present skin; and a year of daily
    # data already detects what the demo plants.
    history_days: int | None = 365


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


def _resample_weights(n: int, block: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Circular moving-block bootstrap as weights: how often each of ``n`` days is drawn in
    each of ``n_boot`` resamples of ``n // block`` blocks with uniform starts, (n_boot, n).

    A resampled sum of any day-by-day quantity is then one matrix product, for every test
    on those days at once.
    """
    starts = rng.integers(0, n, size=(n_boot, max(n // block, 1)))
    flat = (starts + n * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float32)
    weights = counts.copy()
    for d in range(1, block):  # a block starting at day j covers days j .. j + block - 1
        weights += np.roll(counts, d, axis=1)
    return weights


def t_intervals(effect: np.ndarray, se: np.ndarray, df: np.ndarray, level: float) -> tuple[np.ndarray, ...]:
    """p-values and two-sided intervals from estimates, their standard errors and t df
    (NaN where the standard error is not a positive number)."""
    effect, se, df = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(effect, se, df))
    ok = np.isfinite(se) & (se > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(ok, 2 * stats.t.sf(np.abs(effect) / se, df), np.nan)
        half = np.where(ok, stats.t.ppf(0.5 + level / 2, df) * se, np.nan)
    return p, effect - half, effect + half


def t_interval(effect: float, se: float, df: int, level: float) -> tuple[float, float, float]:
    """p-value and a two-sided interval from an estimate, its standard error and t df."""
    return tuple(float(v) for v in t_intervals(effect, se, df, level))


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
    "factor",
    "condition",
    "region",
    "lag",
    "n_days",
    "n_exposed",
    "n_unexposed",
    "baseline",
    "effect",
    "low",
    "high",
    "relative",
    "rel_low",
    "rel_high",
    "df",
    "p",
    "q",
    "status",
    "tests",
]


def lagged_effects(daily: pd.DataFrame, factors: pd.DataFrame, config: InsightConfig = InsightConfig()) -> pd.DataFrame:
    """For each factor, score (condition, region) and lag: score after days with the factor
    minus score after logged days without it, with its interval and BH-corrected verdict.

    ``daily`` as from ``daily_values``; ``factors`` as from ``exposures``. ``status`` is
    "not enough data", "tested" or "reported". ``relative`` is the effect as a share of the
    mean without the factor, only for measurements that are never negative. Only the last
    ``config.history_days`` days of scores are analysed (all with None).
    """
    if daily.empty or factors.empty:
        return pd.DataFrame(columns=LAGGED_COLUMNS)
    if config.history_days is not None:
        daily = daily[daily["day"] > daily["day"].max() - pd.Timedelta(days=config.history_days)]
    rng = np.random.default_rng(config.seed)
    weights: dict[tuple[int, int], np.ndarray] = {}  # tests on the same number of days share their resamples
    names = list(factors.columns)
    first, calendar = _calendar(factors)
    series = _series(daily)
    results = {}  # (series, lag, factor) -> (days, days with the factor, (effect, se, df, baseline) or None)
    for lag in config.lags:
        together = _tests_at_lag(series, calendar, first, lag, config, results)
        for x, tested, members in together.values():
            n = len(x)
            block = min(config.block, n)
            if (n, block) not in weights:
                weights[(n, block)] = _resample_weights(n, block, config.n_boot, rng)
            effect, se, baseline = _bootstrap(x, members, block, weights[(n, block)])
            df = max(-(-n // config.block) - 1, 1)
            n1 = x.sum(0)
            for k, (i, _, _) in enumerate(members):
                for j, c in enumerate(tested):
                    results[(i, lag, int(c))] = (n, int(n1[j]), (effect[j, k], se[j, k], df, baseline[j, k]))
    return correct_for_selection(_frame(series, names, config, results), config)


def _calendar(factors: pd.DataFrame) -> tuple[int, np.ndarray]:
    """(first day number, the factors on a calendar of day numbers from it, NaN where not
    logged): a lag is then an index shift."""
    logged = np.asarray(factors.index.values, dtype="datetime64[D]").astype(np.int64)
    first = int(logged.min())
    calendar = np.full((int(logged.max()) - first + 1, factors.shape[1]), np.nan)
    calendar[logged - first] = factors.to_numpy(dtype=float)
    return first, calendar


def _series(daily: pd.DataFrame) -> list[tuple]:
    """Per (condition, region): condition, region, day numbers, values, detrended values, and
    whether the values are all positive (so an effect can be given relative to them)."""
    series = []
    for (condition, region), one in daily.groupby(["condition", "region"], sort=True):
        days = pd.DatetimeIndex(one["day"])
        raw = one["value"].to_numpy(dtype=float)
        day_numbers = np.asarray(days.values, dtype="datetime64[D]").astype(np.int64)
        series.append(
            (condition, region, day_numbers, raw, _detrend(days, raw), bool((raw >= 0).all() and raw.mean() > 0))
        )
    return series


def _tests_at_lag(
    series: list[tuple], calendar: np.ndarray, first: int, lag: int, config: InsightConfig, results: dict
) -> dict[bytes, tuple[np.ndarray, np.ndarray, list]]:
    """The testable (series, factor) pairs at ``lag``, grouped: tests on the same days with the
    same factors share one matrix product, whatever the score. Records every pair's day counts
    in ``results``; returns {key: (factor matrix, factor columns, [(series, residuals, values)])}."""
    together: dict[bytes, tuple[np.ndarray, np.ndarray, list]] = {}
    for i, (_, _, day_numbers, raw, resid, _) in enumerate(series):
        at = day_numbers - lag - first
        inside = (at >= 0) & (at < len(calendar))
        x_all = np.full((len(day_numbers), calendar.shape[1]), np.nan)
        x_all[inside] = calendar[at[inside]]
        ok = ~np.isnan(x_all)
        same_days: dict[bytes, list[int]] = {}
        for j in range(calendar.shape[1]):
            same_days.setdefault(np.packbits(ok[:, j]).tobytes(), []).append(j)
        for columns in same_days.values():
            keep = ok[:, columns[0]]
            x = x_all[keep][:, columns]
            n, n1 = int(keep.sum()), x.sum(0)
            for j, c in enumerate(columns):
                results[(i, lag, c)] = (n, int(n1[j]), None)
            testable = (n >= config.min_days) & (np.minimum(n1, n - n1) >= config.min_group)
            if testable.any():
                tested = np.asarray(columns)[testable]
                key = day_numbers[keep].tobytes() + tested.tobytes()
                together.setdefault(key, (x[:, testable], tested, []))[2].append((i, resid[keep], raw[keep]))
    return together


def _bootstrap(
    x: np.ndarray, members: list, block: int, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(effect, its block-bootstrap standard error, mean without the factor), each (factors, scores),
    for the scores ``members`` on the days of the factor matrix ``x``."""
    n, t = x.shape
    r = np.column_stack([m[1] for m in members])  # (n, scores)
    y = np.column_stack([m[2] for m in members])
    n1 = x.sum(0)[:, None]
    s1 = x.T @ r
    effect = s1 / n1 - (r.sum(0) - s1) / (n - n1)
    baseline = ((1 - x).T @ y) / (n - n1)
    # Resample whole blocks through day weights: every resampled sum is one product.
    # Single precision: the weights and day counts are small integers (exact), and rounding
    # in the sums is a millionth of the spread of the resampled effects.
    values = np.hstack([x, (x[:, :, None] * r[:, None, :]).reshape(n, -1), r]).astype(np.float32)
    sums = weights @ values
    boot_n1 = sums[:, :t, None]
    boot_s1 = sums[:, t : t + t * r.shape[1]].reshape(-1, t, r.shape[1])
    boot_s = sums[:, None, t + t * r.shape[1] :]
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = boot_s1 / boot_n1 - (boot_s - boot_s1) / ((n // block) * block - boot_n1)
    return effect, _nanstd(boot), baseline


def _frame(series: list[tuple], names: list[str], config: InsightConfig, results: dict) -> pd.DataFrame:
    """One row per factor, score and lag with its day counts, and for the tested ones the effect,
    its interval and p-value (absolute, and relative to the mean without the factor)."""
    rows, tests = [], []  # tests: (row, effect, bootstrap standard error, df, baseline, positive)
    for i, (condition, region, *_, positive) in enumerate(series):
        for lag in config.lags:
            for c, factor in enumerate(names):
                n, n1, test = results[(i, lag, c)]
                if test is not None:
                    tests.append((len(rows), *test, positive))
                rows.append((factor, condition, region, lag, n, n1, n - n1))
    frame = pd.DataFrame(rows, columns=LAGGED_COLUMNS[:7]).reindex(columns=LAGGED_COLUMNS)
    frame["status"] = "not enough data"
    if tests:
        at, effect, se, df, baseline, positive = (np.array(v) for v in zip(*tests, strict=True))
        p, low, high = t_intervals(effect, se, df, 1 - config.alpha)
        # Relative to the mean without the factor, which rests on most of the days: the same
        # interval, rescaled, so that the two always tell the same story.
        scale = np.where(positive.astype(bool) & (baseline > 0), baseline, np.nan)
        frame.loc[at, ["baseline", "effect", "low", "high", "df", "p"]] = np.column_stack(
            [baseline, effect, low, high, df, p]
        )
        frame.loc[at, ["relative", "rel_low", "rel_high"]] = np.column_stack([effect, low, high]) / scale[:, None]
    return frame


def _nanstd(boot: np.ndarray) -> np.ndarray:
    """Standard deviation of each column over its finite resamples (NaN with fewer than two)."""
    finite = np.isfinite(boot)
    n = finite.sum(0)
    values = np.where(finite, boot, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = values.sum(0) / n
        return np.sqrt((np.where(finite, boot - mean, 0.0) ** 2).sum(0) / (n - 1))

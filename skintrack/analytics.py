"""Trends, lagged effects, before/after comparisons and change detection (DataFrame -> DataFrame).

The statistics, in brief (README, "Insights: what they can and cannot tell"):
- one value per day and measurement: the mean of that day's check-ins;
- a lagged effect compares the score ``lag`` days after days with a factor against the
  score after logged days without it, on the score with its linear trend removed (a slow
  drift over months must not pass for an effect of a habit that changed meanwhile);
- uncertainty comes from a moving-block bootstrap (blocks of a week keep the day-to-day
  correlation of skin and habits), as a t interval on the bootstrap standard error;
- nothing is tested below a minimum amount of data, and every factor x lag x score tested
  enters one Benjamini-Hochberg correction; the intervals of the findings that pass are
  widened for that selection (Benjamini-Yekutieli false coverage rate);
- a product is judged by the window before it started against a window after a
  settling-in period; the interval allows for the day-to-day correlation of the whole
  history (a wandering skin state plus measurement noise, around each product period's mean), and the same correction runs across
  products and scores;
- a change between two days is called a change only beyond the measurement's noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from .lifestyle import EXPOSURES, NUMERIC_FIELDS

WHOLE_FACE = "face"


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


# ---------------------------------------------------------------- daily values and trends


def latest_source(scores: pd.DataFrame, condition: str) -> str | None:
    """The source that most recently produced ``condition`` (a newer model wins)."""
    rows = scores[scores["condition"] == condition]
    if rows.empty:
        return None
    return rows.sort_values("taken_at")["source"].iloc[-1]


def catalogue(scores: pd.DataFrame) -> pd.DataFrame:
    """Each stored (condition, region) with its number of entries, most common first."""
    if scores.empty:
        return pd.DataFrame(columns=["condition", "region", "n"])
    return (
        scores.groupby(["condition", "region"], as_index=False)["entry_id"].nunique()
        .rename(columns={"entry_id": "n"})
        .sort_values(["condition", "region"])
        .reset_index(drop=True)
    )  # fmt: skip


def daily_values(scores: pd.DataFrame, regions: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One value per day, condition and region (the mean of the day's check-ins, latest source).

    Columns: day (midnight Timestamp), condition, region, value, n (check-ins that day).
    """
    columns = ["day", "condition", "region", "value", "n"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    latest = scores.sort_values("taken_at").groupby("condition")["source"].last()
    rows = scores[scores["source"].to_numpy() == scores["condition"].map(latest).to_numpy()]
    if regions is not None:
        rows = rows[rows["region"].isin(regions)]
    return (
        rows.assign(day=pd.to_datetime(rows["taken_at"]).dt.normalize())
        .groupby(["day", "condition", "region"], as_index=False)
        .agg(value=("value", "mean"), n=("value", "size"))
        .sort_values(["condition", "region", "day"])
        .reset_index(drop=True)[columns]
    )  # fmt: skip


def rolling(daily: pd.DataFrame, window: int = 7) -> pd.DataFrame:
    """Add the trailing ``window``-day mean and a band of one rolling standard deviation.

    ``daily`` holds one measurement: day, value. Adds rolling, low, high.
    """
    if daily.empty:
        return daily.assign(rolling=[], low=[], high=[])
    roll = daily.set_index("day")["value"].rolling(f"{window}D", min_periods=1)
    mean, std = roll.mean().to_numpy(), roll.std().fillna(0.0).to_numpy()
    return daily.assign(rolling=mean, low=mean - std, high=mean + std)


def daily_series(scores: pd.DataFrame, condition: str, region: str, window: int = 7) -> pd.DataFrame:
    """One measurement by day with its rolling mean: day, value, n, rolling, low, high."""
    source = latest_source(scores, condition)
    # Filter before grouping: this runs on every Trends rerun, over years of scores.
    rows = scores[(scores["condition"] == condition) & (scores["region"] == region) & (scores["source"] == source)]
    if rows.empty:
        return pd.DataFrame(columns=["day", "value", "n", "rolling", "low", "high"])
    daily = (
        rows.assign(day=pd.to_datetime(rows["taken_at"]).dt.normalize())
        .groupby("day", as_index=False)
        .agg(value=("value", "mean"), n=("value", "size"))
    )  # fmt: skip
    return rolling(daily, window)


def lifestyle_series(log: pd.DataFrame, factor: str) -> pd.DataFrame:
    """One lifestyle factor by day: columns day, value (days without a value dropped)."""
    if factor not in NUMERIC_FIELDS:
        raise ValueError(f"unknown lifestyle factor {factor!r}; choose one of {', '.join(NUMERIC_FIELDS)}")
    if log.empty or factor not in log:
        return pd.DataFrame(columns=["day", "value"])
    out = log[["day", factor]].dropna().rename(columns={factor: "value"})
    return out.assign(day=pd.to_datetime(out["day"])).reset_index(drop=True)


def previous_log_day(log: pd.DataFrame, day: date) -> date | None:
    """The last logged day before ``day``, or None."""
    if log.empty:
        return None
    days = pd.to_datetime(log["day"])
    earlier = days[days < pd.Timestamp(day)]
    return None if earlier.empty else earlier.max().date()


def entries_on(entries: pd.DataFrame, day: date) -> pd.DataFrame:
    """The entries taken on ``day``, oldest first."""
    if entries.empty:
        return entries
    taken = pd.to_datetime(entries["taken_at"])
    return entries[taken.dt.normalize() == pd.Timestamp(day)].sort_values("taken_at")


def timelapse_entries(entries: pd.DataFrame, start: date, end: date, max_frames: int = 120) -> pd.DataFrame:
    """One entry per day between ``start`` and ``end`` (the day's first), thinned evenly to ``max_frames``."""
    if entries.empty:
        return entries
    taken = pd.to_datetime(entries["taken_at"])
    inside = entries[(taken >= pd.Timestamp(start)) & (taken < pd.Timestamp(end) + pd.Timedelta(days=1))]
    firsts = inside.assign(_day=pd.to_datetime(inside["taken_at"]).dt.normalize()).sort_values("taken_at")
    firsts = firsts.drop_duplicates("_day").drop(columns="_day")
    if len(firsts) > max_frames:
        firsts = firsts.iloc[np.linspace(0, len(firsts) - 1, max_frames).round().astype(int)]
    return firsts.reset_index(drop=True)


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


def product_periods(routine: pd.DataFrame, uses: pd.DataFrame, max_gap: int = 7) -> pd.DataFrame:
    """Periods of product use: the routine's, and for products only ever logged day by day,
    runs of logged use (gaps up to ``max_gap`` days joined). Columns: product, start, stop."""
    columns = ["product", "start", "stop"]
    parts = []
    if not routine.empty:
        parts.append(routine[columns])
    logged_only = uses[~uses["product"].isin(set(routine.get("product", [])))] if not uses.empty else uses
    for product, rows in logged_only.groupby("product") if not logged_only.empty else []:
        days = pd.Series(sorted(set(pd.to_datetime(rows["day"]))))
        run = (days.diff().dt.days > max_gap).cumsum()
        spans = days.groupby(run).agg(["min", "max"])
        parts.append(pd.DataFrame({"product": product, "start": spans["min"], "stop": spans["max"]}))
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    return out.assign(start=pd.to_datetime(out["start"]), stop=pd.to_datetime(out["stop"])).sort_values("start").reset_index(drop=True)


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


def _interval(effect: float, se: float, df: int, level: float) -> tuple[float, float, float]:
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


def _select(frame: pd.DataFrame, config: InsightConfig) -> pd.DataFrame:
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
                p, low, high = _interval(effect, float(np.nanstd(boot, ddof=1)), df, 1 - config.alpha)
                rel = rel_low = rel_high = np.nan
                if positive and baseline > 0:
                    # Relative to the mean without the factor, which rests on most of the days:
                    # the same interval, rescaled, so that the two always tell the same story.
                    rel, rel_low, rel_high = effect / baseline, low / baseline, high / baseline
                row.update(baseline=baseline, effect=effect, low=low, high=high, relative=rel,
                           rel_low=rel_low, rel_high=rel_high, df=df, p=p)  # fmt: skip
                rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=LAGGED_COLUMNS)
    return _select(frame, config)


PRODUCT_COLUMNS = [
    "product", "start", "stop", "condition", "region", "n_before", "n_after", "before", "after",
    "effect", "low", "high", "relative", "rel_low", "rel_high", "df", "p", "q", "status", "reason",
    "others", "tests",
]  # fmt: skip


def _noise_model(days: pd.DatetimeIndex, values: np.ndarray, breaks: np.ndarray, max_lag: int = 7) -> tuple[float, float, float]:
    """A slowly wandering skin state (AR(1): variance ``s2``, day-to-day factor ``phi``) plus
    independent measurement noise (``white``), fitted to the autocovariances at 1-7 days
    of the series around the mean of each segment between ``breaks`` (product starts and stops).

    Segment means take out steps a product may cause, which would otherwise pass for noise.
    A plain AR(1) fit would mistake the measurement noise for fast decay and make two
    windows look more independent than they are.
    """
    segment = np.searchsorted(np.sort(breaks), days.to_numpy(), side="right")
    v = values - pd.Series(values).groupby(segment).transform("mean").to_numpy()
    t = (days - days[0]).days.to_numpy()
    total = float((v * v).sum() / max(len(v) - len(np.unique(segment)), 1))
    lags, gammas = [], []
    for k in range(1, max_lag + 1):
        j = np.minimum(np.searchsorted(t, t + k), len(t) - 1)
        i = np.nonzero((t[j] == t + k) & (segment[j] == segment))[0]
        j = j[i]
        if len(i) >= 5:
            lags.append(k)
            gammas.append(float((v[i] * v[j]).mean()))
    lags, gammas = np.array(lags), np.array(gammas)
    keep = gammas > 0
    if keep.sum() < 2:
        return 0.0, 0.0, total
    slope, intercept = np.polyfit(lags[keep], np.log(gammas[keep]), 1)
    phi = float(np.clip(np.exp(slope), 0.0, 0.98))
    s2 = float(min(np.exp(intercept), total))
    return s2, phi, total - s2


def _window_difference_se(days_a: np.ndarray, days_b: np.ndarray, model: tuple[float, float, float]) -> float:
    """Standard error of mean(after) - mean(before) under the noise model, on those days."""
    s2, phi, white = model
    t = np.concatenate([days_a, days_b]).astype("datetime64[D]").astype(float)
    w = np.concatenate([np.full(len(days_a), 1 / len(days_a)), np.full(len(days_b), -1 / len(days_b))])
    cov = s2 * phi ** np.abs(t[:, None] - t[None, :]) + white * np.eye(len(t))
    return float(np.sqrt(max(w @ cov @ w, 0.0)))


def product_effects(daily: pd.DataFrame, periods: pd.DataFrame, config: InsightConfig = InsightConfig()) -> pd.DataFrame:
    """Each product period against each score: the window before its start against the
    window after the settling-in period, with its interval and BH-corrected verdict.

    ``before`` covers ``window_days`` up to the day before the start; ``after`` starts
    ``settle_days`` after the start and lasts ``window_days`` (or until the stop). Days
    next to each other are alike, so the interval comes from the day-to-day correlation
    of the whole history (AR(1)), not from counting days as independent.
    ``others`` names products started or stopped within those windows: they muddle the comparison.
    """
    rows = []
    if daily.empty or periods.empty:
        return pd.DataFrame(columns=PRODUCT_COLUMNS)
    window, settle = pd.Timedelta(days=config.window_days), pd.Timedelta(days=config.settle_days)
    breaks = np.array([*periods["start"], *(periods["stop"].dropna() + pd.Timedelta(days=1))], dtype="datetime64[ns]")
    noise = {key: _noise_model(pd.DatetimeIndex(one["day"]), one["value"].to_numpy(dtype=float), breaks)
             for key, one in daily.groupby(["condition", "region"], sort=True) if len(one) > 2}  # fmt: skip
    for period in periods.itertuples(index=False):
        start, stop = pd.Timestamp(period.start), period.stop
        before_from, after_from = start - window, start + settle
        after_to = after_from + window
        if pd.notna(stop):
            after_to = min(after_to, pd.Timestamp(stop) + pd.Timedelta(days=1))
        near = periods[
            (periods["product"] != period.product)
            & (periods["start"].between(before_from, after_to) | periods["stop"].between(before_from, after_to))
        ]
        others = ", ".join(sorted(set(near["product"])))
        for (condition, region), one in daily.groupby(["condition", "region"], sort=True):
            days = pd.DatetimeIndex(one["day"])
            values = one["value"].to_numpy(dtype=float)
            in_before, in_after = (days >= before_from) & (days < start), (days >= after_from) & (days < after_to)
            before, after = values[in_before], values[in_after]
            row = {
                "product": period.product, "start": start, "stop": stop, "condition": condition,
                "region": region, "n_before": len(before), "n_after": len(after), "others": others,
                "status": "not enough data",
            }  # fmt: skip
            if min(len(before), len(after)) < config.min_window_days:
                row["reason"] = (
                    f"needs {config.min_window_days} days with check-ins in each window; "
                    f"has {len(before)} before and {len(after)} after, skipping the first {config.settle_days} days"
                )
                rows.append(row)
                continue
            model = noise[(condition, region)]
            effect = float(after.mean() - before.mean())
            se = _window_difference_se(days[in_after].to_numpy(), days[in_before].to_numpy(), model)
            # Fewer independent days than days: the t interval counts only the effective ones.
            phi = model[1]
            df = max(int((len(before) + len(after) - 2) * (1 - phi) / (1 + phi)), 2)
            p, low, high = _interval(effect, se, df, 1 - config.alpha)
            rel = rel_low = rel_high = np.nan
            if (values >= 0).all() and before.mean() > 0:
                rel, rel_low, rel_high = effect / before.mean(), low / before.mean(), high / before.mean()
            row.update(before=float(before.mean()), after=float(after.mean()), effect=effect, low=low, high=high,
                       relative=rel, rel_low=rel_low, rel_high=rel_high, df=df, p=p)  # fmt: skip
            rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=PRODUCT_COLUMNS)
    return _select(frame, config)


# ---------------------------------------------------------------- change detection


def noise_bands(daily: pd.DataFrame, measured: Callable[[str, str], float | None] | None = None) -> pd.DataFrame:
    """The smallest change worth calling a change, per condition and region.

    From the measurement's published repeatability when ``measured(condition, region)`` gives it,
    else from the day-to-day spread: 1.96 x the standard deviation of the differences
    between consecutive days (a slow trend barely moves it; real day-to-day swings of the
    skin enlarge it, which errs on the side of saying "no change").
    Columns: condition, region, band, basis ("measured", "day-to-day spread" or "too few days").
    """
    rows = []
    for (condition, region), one in daily.groupby(["condition", "region"], sort=True):
        band, basis = None, "too few days"
        if measured is not None:
            try:
                band = measured(condition, region)
            except (KeyError, ValueError, TypeError, OSError):
                band = None
            if band is not None and np.isfinite(band) and band > 0:
                basis = "measured"
            else:
                band = None
        if band is None:
            diffs = np.diff(one.sort_values("day")["value"].to_numpy(dtype=float))
            if len(diffs) >= 5:
                band, basis = 1.96 * float(np.std(diffs, ddof=1)), "day-to-day spread"
        rows.append({"condition": condition, "region": region, "band": np.nan if band is None else float(band), "basis": basis})
    return pd.DataFrame(rows, columns=["condition", "region", "band", "basis"])


def _verdict(change: float, band: float) -> str:
    if not np.isfinite(band):
        return "not enough days to know the noise"
    if abs(change) <= band:
        return "within noise"
    return "higher" if change > 0 else "lower"


def compare_days(daily: pd.DataFrame, day_a: date, day_b: date, bands: pd.DataFrame) -> pd.DataFrame:
    """Each condition and region on two days, the change, the noise band and the verdict.

    Columns: condition, region, before, after, change, band, basis, verdict.
    """
    columns = ["condition", "region", "before", "after", "change", "band", "basis", "verdict"]
    a = daily[daily["day"] == pd.Timestamp(day_a)][["condition", "region", "value"]]
    b = daily[daily["day"] == pd.Timestamp(day_b)][["condition", "region", "value"]]
    both = a.merge(b, on=["condition", "region"], suffixes=("_a", "_b")).merge(bands, on=["condition", "region"], how="left")
    if both.empty:
        return pd.DataFrame(columns=columns)
    both = both.rename(columns={"value_a": "before", "value_b": "after"})
    both["change"] = both["after"] - both["before"]
    both["verdict"] = [_verdict(c, b) for c, b in zip(both["change"], both["band"], strict=True)]
    return both[columns].reset_index(drop=True)


def recent_changes(daily: pd.DataFrame, bands: pd.DataFrame, days: int = 7, min_values: int = 3) -> pd.DataFrame:
    """The mean of the last ``days`` days against the ``days`` before, per condition and region.

    Columns: condition, region, recent, earlier, n_recent, n_earlier, change, band, basis, verdict.
    """
    columns = ["condition", "region", "recent", "earlier", "n_recent", "n_earlier", "change", "band", "basis", "verdict"]
    if daily.empty:
        return pd.DataFrame(columns=columns)
    last = daily["day"].max()
    cut, first = last - pd.Timedelta(days=days), last - pd.Timedelta(days=2 * days)
    recent = daily[daily["day"] > cut].groupby(["condition", "region"])["value"].agg(["mean", "size"])
    earlier = daily[(daily["day"] > first) & (daily["day"] <= cut)].groupby(["condition", "region"])["value"].agg(["mean", "size"])
    both = recent.join(earlier, lsuffix="_r", rsuffix="_e", how="inner").reset_index()
    both = both[(both["size_r"] >= min_values) & (both["size_e"] >= min_values)]
    if both.empty:
        return pd.DataFrame(columns=columns)
    both = both.rename(columns={"mean_r": "recent", "mean_e": "earlier", "size_r": "n_recent", "size_e": "n_earlier"})
    both = both.merge(bands, on=["condition", "region"], how="left")
    both["change"] = both["recent"] - both["earlier"]
    both["verdict"] = [_verdict(c, b) for c, b in zip(both["change"], both["band"], strict=True)]
    return both[columns].reset_index(drop=True)


def selected_day(points: list[dict]) -> date | None:
    """The day of the first point selected on a trend chart: the daily points carry it as
    customdata; another trace's point gives its x when that is a date string."""
    for point in points or []:
        value = point.get("customdata")
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if not isinstance(value, str):
            value = point.get("x") if isinstance(point.get("x"), str) else None
        if value:
            try:
                return pd.Timestamp(value).date()
            except (ValueError, TypeError):
                continue
    return None


def entry_days(entries: pd.DataFrame) -> list[date]:
    """The days with at least one entry, oldest first."""
    if entries.empty:
        return []
    return sorted(set(pd.to_datetime(entries["taken_at"]).dt.date))


def logged_any(log: pd.DataFrame, field: str) -> bool:
    """Whether any logged day has a value for ``field`` (e.g. the opt-in cycle day)."""
    return bool(not log.empty and field in log and log[field].notna().any())


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

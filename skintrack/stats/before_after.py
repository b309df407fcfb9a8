"""Products judged before and after: the window before a product started against a window
after a settling-in period (DataFrame -> DataFrame).

The interval allows for the day-to-day correlation of the whole history (a wandering skin
state plus measurement noise, around each product period's mean), and the same correction
as for the lagged effects runs across products and scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from skintrack.stats.effects import InsightConfig, correct_for_selection, t_interval


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
    return (
        out.assign(start=pd.to_datetime(out["start"]), stop=pd.to_datetime(out["stop"]))
        .sort_values("start")
        .reset_index(drop=True)
    )


PRODUCT_COLUMNS = [
    "product",
    "start",
    "stop",
    "condition",
    "region",
    "n_before",
    "n_after",
    "before",
    "after",
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
    "reason",
    "others",
    "tests",
]


def _noise_model(
    days: pd.DatetimeIndex, values: np.ndarray, breaks: np.ndarray, max_lag: int = 7
) -> tuple[float, float, float]:
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


def _noise_models(daily: pd.DataFrame, periods: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
    """The noise model of each score with more than two days; product starts and stops are its breaks."""
    breaks = np.array([*periods["start"], *(periods["stop"].dropna() + pd.Timedelta(days=1))], dtype="datetime64[ns]")
    return {
        key: _noise_model(pd.DatetimeIndex(one["day"]), one["value"].to_numpy(dtype=float), breaks)
        for key, one in daily.groupby(["condition", "region"], sort=True)
        if len(one) > 2
    }


def _windows(period, config: InsightConfig) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """start, before_from, after_from, after_to: before is [before_from, start), after [after_from, after_to)."""
    window, settle = pd.Timedelta(days=config.window_days), pd.Timedelta(days=config.settle_days)
    start, stop = pd.Timestamp(period.start), period.stop
    before_from, after_from = start - window, start + settle
    after_to = after_from + window
    if pd.notna(stop):
        after_to = min(after_to, pd.Timestamp(stop) + pd.Timedelta(days=1))
    return start, before_from, after_from, after_to


def _others(periods: pd.DataFrame, product: str, before_from: pd.Timestamp, after_to: pd.Timestamp) -> str:
    """The other products started or stopped within the windows, which muddle the comparison."""
    near = periods[
        (periods["product"] != product)
        & (periods["start"].between(before_from, after_to) | periods["stop"].between(before_from, after_to))
    ]
    return ", ".join(sorted(set(near["product"])))


def _difference(
    days: pd.DatetimeIndex,
    values: np.ndarray,
    in_before: np.ndarray,
    in_after: np.ndarray,
    model: tuple[float, float, float],
    config: InsightConfig,
) -> dict:
    """The after window's mean minus the before window's, with its interval, also relative to before."""
    before, after = values[in_before], values[in_after]
    effect = float(after.mean() - before.mean())
    se = _window_difference_se(days[in_after].to_numpy(), days[in_before].to_numpy(), model)
    # Fewer independent days than days: the t interval counts only the effective ones.
    phi = model[1]
    df = max(int((len(before) + len(after) - 2) * (1 - phi) / (1 + phi)), 2)
    p, low, high = t_interval(effect, se, df, 1 - config.alpha)
    rel = rel_low = rel_high = np.nan
    if (values >= 0).all() and before.mean() > 0:
        rel, rel_low, rel_high = effect / before.mean(), low / before.mean(), high / before.mean()
    return dict(
        before=float(before.mean()),
        after=float(after.mean()),
        effect=effect,
        low=low,
        high=high,
        relative=rel,
        rel_low=rel_low,
        rel_high=rel_high,
        df=df,
        p=p,
    )


def product_effects(
    daily: pd.DataFrame, periods: pd.DataFrame, config: InsightConfig = InsightConfig()
) -> pd.DataFrame:
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
    noise = _noise_models(daily, periods)
    for period in periods.itertuples(index=False):
        start, before_from, after_from, after_to = _windows(period, config)
        others = _others(periods, period.product, before_from, after_to)
        for (condition, region), one in daily.groupby(["condition", "region"], sort=True):
            days = pd.DatetimeIndex(one["day"])
            values = one["value"].to_numpy(dtype=float)
            in_before, in_after = (days >= before_from) & (days < start), (days >= after_from) & (days < after_to)
            before, after = values[in_before], values[in_after]
            row = {
                "product": period.product,
                "start": start,
                "stop": period.stop,
                "condition": condition,
                "region": region,
                "n_before": len(before),
                "n_after": len(after),
                "others": others,
                "status": "not enough data",
            }
            if min(len(before), len(after)) < config.min_window_days:
                row["reason"] = (
                    f"needs {config.min_window_days} days with check-ins in each window; "
                    f"has {len(before)} before and {len(after)} after, skipping the first {config.settle_days} days"
                )
                rows.append(row)
                continue
            row.update(_difference(days, values, in_before, in_after, noise[(condition, region)], config))
            rows.append(row)
    frame = pd.DataFrame(rows).reindex(columns=PRODUCT_COLUMNS)
    return correct_for_selection(frame, config)

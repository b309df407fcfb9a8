"""Change detection: a change between two days, or over the last week, is called a change
only when it is larger than the measurement's noise (DataFrame -> DataFrame)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd


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
        rows.append(
            {"condition": condition, "region": region, "band": np.nan if band is None else float(band), "basis": basis}
        )
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
    both = a.merge(b, on=["condition", "region"], suffixes=("_a", "_b")).merge(
        bands, on=["condition", "region"], how="left"
    )
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
    columns = [
        "condition",
        "region",
        "recent",
        "earlier",
        "n_recent",
        "n_earlier",
        "change",
        "band",
        "basis",
        "verdict",
    ]
    if daily.empty:
        return pd.DataFrame(columns=columns)
    last = daily["day"].max()
    cut, first = last - pd.Timedelta(days=days), last - pd.Timedelta(days=2 * days)
    recent = daily[daily["day"] > cut].groupby(["condition", "region"])["value"].agg(["mean", "size"])
    earlier = (
        daily[(daily["day"] > first) & (daily["day"] <= cut)]
        .groupby(["condition", "region"])["value"]
        .agg(["mean", "size"])
    )
    both = recent.join(earlier, lsuffix="_r", rsuffix="_e", how="inner").reset_index()
    both = both[(both["size_r"] >= min_values) & (both["size_e"] >= min_values)]
    if both.empty:
        return pd.DataFrame(columns=columns)
    both = both.rename(columns={"mean_r": "recent", "mean_e": "earlier", "size_r": "n_recent", "size_e": "n_earlier"})
    both = both.merge(bands, on=["condition", "region"], how="left")
    both["change"] = both["recent"] - both["earlier"]
    both["verdict"] = [_verdict(c, b) for c, b in zip(both["change"], both["band"], strict=True)]
    return both[columns].reset_index(drop=True)

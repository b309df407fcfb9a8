"""Trends from the stored scores and the lifestyle log (DataFrame -> DataFrame)."""

from __future__ import annotations

import pandas as pd

from .lifestyle import NUMERIC_FIELDS


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


def daily_series(scores: pd.DataFrame, condition: str, region: str, window: int = 7) -> pd.DataFrame:
    """One value a day (the mean of that day's check-ins) with a centred-free rolling mean and spread.

    Columns: day, value, n (check-ins that day), rolling (mean over the last ``window``
    days with data), low and high (rolling mean -/+ one rolling standard deviation).
    """
    source = latest_source(scores, condition)
    rows = scores[(scores["condition"] == condition) & (scores["region"] == region) & (scores["source"] == source)]
    if rows.empty:
        return pd.DataFrame(columns=["day", "value", "n", "rolling", "low", "high"])
    daily = (
        rows.assign(day=pd.to_datetime(rows["taken_at"]).dt.normalize())
        .groupby("day", as_index=False)
        .agg(value=("value", "mean"), n=("value", "size"))
    )
    roll = daily.set_index("day")["value"].rolling(f"{window}D", min_periods=1)
    mean, std = roll.mean().to_numpy(), roll.std().fillna(0.0).to_numpy()
    return daily.assign(rolling=mean, low=mean - std, high=mean + std)


def lifestyle_series(log: pd.DataFrame, factor: str) -> pd.DataFrame:
    """One lifestyle factor by day: columns day, value (days without a value dropped)."""
    if factor not in NUMERIC_FIELDS:
        raise ValueError(f"unknown lifestyle factor {factor!r}; choose one of {', '.join(NUMERIC_FIELDS)}")
    if log.empty or factor not in log:
        return pd.DataFrame(columns=["day", "value"])
    out = log[["day", factor]].dropna().rename(columns={factor: "value"})
    return out.assign(day=pd.to_datetime(out["day"])).reset_index(drop=True)

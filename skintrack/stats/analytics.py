"""Daily values and trends, and the days behind a chart (DataFrame -> DataFrame).

One value per day and measurement: the mean of that day's check-ins, from the newest scorer.
The statistics built on these values live beside this module: ``effects`` (lagged effects of
lifestyle factors), ``before_after`` (products) and ``changes`` (change beyond the noise).
"""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from skintrack.db import measurements
from skintrack.db.lifestyle import NUMERIC_FIELDS

WHOLE_FACE = "face"


# ---------------------------------------------------------------- daily values and trends


def latest_sources(scores: pd.DataFrame) -> pd.Series:
    """The source that most recently produced each condition (a newer model wins), by condition:
    of the latest entry (taken_at, then entry_id), the source stored last (``store.scores`` keeps
    storage order within an entry). Decided by ``measurements.LATEST``, the rule the stored scores'
    queries use, over this frame's rows."""
    ordered = scores[["condition", "source", "taken_at", "entry_id"]].assign(seq=np.arange(len(scores)))
    with duckdb.connect() as con:
        con.register("ordered", ordered)
        rows = con.execute(measurements.LATEST_OF_ORDERED).fetchall()
    return pd.Series(dict(rows), name="source", dtype=object).rename_axis("condition")


def latest_source(scores: pd.DataFrame, condition: str) -> str | None:
    """``latest_sources`` of one condition; None when it has no scores."""
    return latest_sources(scores[scores["condition"] == condition]).get(condition)


def daily_values(scores: pd.DataFrame, regions: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One value per day, condition and region (the mean of the day's check-ins, latest source).

    Columns: day (midnight Timestamp), condition, region, value, n (check-ins that day).
    """
    columns = ["day", "condition", "region", "value", "n"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    latest = latest_sources(scores)
    rows = scores[scores["source"].to_numpy() == scores["condition"].map(latest).to_numpy()]
    if regions is not None:
        rows = rows[rows["region"].isin(regions)]
    return (
        rows.assign(day=pd.to_datetime(rows["taken_at"]).dt.normalize())
        .groupby(["day", "condition", "region"], as_index=False)
        .agg(value=("value", "mean"), n=("value", "size"))
        .sort_values(["condition", "region", "day"])
        .reset_index(drop=True)[columns]
    )


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
    )
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


def counted(n: int, noun: str) -> str:
    """``1 day``, ``2 days``: a count with its noun, plural by an added s."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def entry_days(entries: pd.DataFrame) -> list[date]:
    """The days with at least one entry, oldest first."""
    if entries.empty:
        return []
    return sorted(set(pd.to_datetime(entries["taken_at"]).dt.date))


def logged_any(log: pd.DataFrame, field: str) -> bool:
    """Whether any logged day has a value for ``field`` (e.g. the opt-in cycle day)."""
    return bool(not log.empty and field in log and log[field].notna().any())

"""What the Trends page reads, over one connection: the stored measurements, one of them by
day with the day's check-ins averaged in DuckDB, the lifestyle log and the product periods.

Opening and checking the database costs more than these queries at ten years of daily
entries, and the whole scores table (hundreds of thousands of rows) is never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from skintrack.config import Settings
from skintrack.db import measurements, products, schema, store
from skintrack.stats import analytics, before_after


@dataclass(frozen=True)
class TrendData:
    """One measurement's chart data: series (day, value, n, rolling, low, high), the lifestyle
    log (one row per logged day) and product periods (product, start, stop)."""

    series: pd.DataFrame
    log: pd.DataFrame
    periods: pd.DataFrame


def catalogue(settings: Settings) -> pd.DataFrame:
    """Each stored (condition, region) pair: condition, region."""
    with schema.connect(settings) as con:
        return measurements.read_measurements(con)


def load(settings: Settings, condition: str, region: str, window: int = 7) -> TrendData:
    """The chart data of one measurement, its ``window``-day rolling mean included."""
    with schema.connect(settings) as con:
        daily = measurements.read_daily_scores(con, condition, region)
        log = store.read_lifestyle(con)
        routine, uses = products.read_routine(con), products.read_uses(con)
    return TrendData(analytics.rolling(daily, window), log, before_after.product_periods(routine, uses))

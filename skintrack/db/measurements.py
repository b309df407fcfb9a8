"""Stored measurements read for charts, aggregated in DuckDB: which (condition, region) pairs
exist, and one value per day from each condition's latest source (the one statement of the
latest-source rule, ``LATEST``).

Reading a few thousand daily rows instead of hundreds of thousands of scores is what keeps
Trends, Compare and the insights fast on a year of check-ins.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from skintrack.config import Settings
from skintrack.db.schema import connect


def score_catalogue(settings: Settings) -> pd.DataFrame:
    """Each stored (condition, region) with its number of entries, without loading the scores."""
    with connect(settings) as con:
        return read_score_catalogue(con)


def read_score_catalogue(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``score_catalogue`` on an open connection."""
    return con.execute(
        "SELECT condition, region, count(DISTINCT entry_id) AS n FROM scores"
        " GROUP BY condition, region ORDER BY condition, region"
    ).df()


def read_measurements(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each stored (condition, region) pair, sorted: what a chart can show (a fifth of the time
    of ``score_catalogue``, which counts the entries of each)."""
    return con.execute("SELECT DISTINCT condition, region FROM scores ORDER BY condition, region").df()


def daily_scores(settings: Settings, condition: str, region: str) -> pd.DataFrame:
    """One measurement by day from its latest source, the day's check-ins averaged in DuckDB:
    day (midnight Timestamp), value, n. What ``analytics.daily_series`` computes from the
    whole scores table, read as a few thousand rows instead of hundreds of thousands."""
    with connect(settings) as con:
        return read_daily_scores(con, condition, region)


# Each condition's newest source: of the latest entry, the most recently stored (a rescore adds
# a new model's scores to old entries, and the newer model wins). The one statement of the rule,
# LATEST, as the CTE ``latest`` (condition, source) over ``ordered`` (condition, source, taken_at,
# entry_id, seq: the order of storing); ``ordered`` is the stored scores (of every condition, or
# of the one given as a ?: twice as fast) or, for ``analytics.latest_sources``, a scores frame.
LATEST = (
    "latest AS (SELECT condition, arg_max(source, (taken_at, entry_id, seq)) AS source FROM ordered GROUP BY condition)"
)
_ORDERED = (
    "ordered AS (SELECT s.condition, s.source, e.taken_at, s.entry_id, s.rowid AS seq"
    " FROM scores s JOIN entries e ON e.id = s.entry_id"
)
LATEST_SOURCES = "WITH " + _ORDERED + "), " + LATEST
LATEST_SOURCE_OF_ONE = "WITH " + _ORDERED + " WHERE s.condition = ?), " + LATEST
# The rule over a frame registered as ``ordered``.
LATEST_OF_ORDERED = "WITH " + LATEST + " SELECT condition, source FROM latest ORDER BY condition"
_DAILY_SCORES = LATEST_SOURCE_OF_ONE + (
    " SELECT date_trunc('day', e.taken_at) AS day, avg(s.value) AS value, count(*) AS n"
    " FROM scores s JOIN entries e ON e.id = s.entry_id"
    " JOIN latest l ON l.condition = s.condition AND l.source = s.source"
    " WHERE s.condition = ? AND s.region = ?"
    " GROUP BY 1 ORDER BY 1"
)
_DAILY_VALUES = LATEST_SOURCES + (
    " SELECT date_trunc('day', e.taken_at) AS day, s.condition, s.region, avg(s.value) AS value, count(*) AS n"
    " FROM scores s JOIN entries e ON e.id = s.entry_id"
    " JOIN latest l ON l.condition = s.condition AND l.source = s.source"
    " WHERE ?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], s.region)"
    " GROUP BY ALL ORDER BY s.condition, s.region, day"
)


def read_daily_scores(con: duckdb.DuckDBPyConnection, condition: str, region: str) -> pd.DataFrame:
    """``daily_scores`` on an open connection."""
    return con.execute(_DAILY_SCORES, [condition, condition, region]).df()


def read_daily_values(con: duckdb.DuckDBPyConnection, regions: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One value per day, condition and region from each condition's latest source, averaged
    in DuckDB (``regions=None``: every region): day, condition, region, value, n, ordered by
    condition, region and day, as ``analytics.daily_values`` computes from the scores table."""
    wanted = None if regions is None else list(regions)
    return con.execute(_DAILY_VALUES, [wanted, wanted]).df()

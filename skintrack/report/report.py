"""A report for the dermatologist: one period's trends, photos, acne grades, products and insights.

``build`` gathers what the store holds for the period into a ``Report`` (nothing is computed
that the app does not already compute): the summary and acne tables, the trend figures, the
first and last photo, the products, the insights in words. ``document`` renders it as HTML
and PDF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go

from skintrack.capture import labels, measure
from skintrack.config import Settings
from skintrack.db import products, schema, store
from skintrack.db.lifestyle import NUMERIC_FIELDS
from skintrack.errors import BadValue, Refused
from skintrack.model.acne import GRADE_NAMES
from skintrack.report import charts, guidance
from skintrack.stats import analytics
from skintrack.stats.insights import CAVEAT as INSIGHTS_CAVEAT
from skintrack.stats.insights import compute as compute_insights
from skintrack.stats.insights import sentences as insight_sentences

MODEL_CHARTS = labels.MODEL_OUTPUTS  # model outputs shown as charts besides the measurements


class EmptyPeriod(Refused, ValueError):
    """The period holds no check-ins."""


@dataclass(frozen=True)
class Photo:
    taken_at: datetime
    jpeg: bytes


@dataclass(frozen=True)
class Chart:
    condition: str
    title: str
    figure: go.Figure


@dataclass(frozen=True)
class Report:
    """Everything a report shows, gathered for one period of one data home."""

    start: date
    end: date
    created_at: datetime
    is_demo: bool
    checkins: int
    days_logged: int
    summary: pd.DataFrame  # measurement, unit, days, first, last, change, noise band, beyond noise, mean
    charts: list[Chart] = field(default_factory=list)
    first_photo: Photo | None = None
    last_photo: Photo | None = None
    acne: pd.DataFrame = field(default_factory=pd.DataFrame)  # per check-in: date, grade, probability, lesions
    lifestyle: pd.DataFrame = field(default_factory=pd.DataFrame)  # factor, unit, days, mean
    products: pd.DataFrame = field(default_factory=pd.DataFrame)  # product, when, first day, last day, days
    routine: pd.DataFrame = field(default_factory=pd.DataFrame)  # product, kind, when, started, stopped
    insights: list[str] = field(default_factory=list)
    referral: guidance.Referral | None = None


def build(settings: Settings, start: date, end: date) -> Report:
    """Gather the report of ``start``..``end`` (both included), or raise ``EmptyPeriod``."""
    if end < start:
        raise BadValue(f"the period ends ({end}) before it starts ({start})")
    all_scores = store.scores(settings)
    scores = in_period(all_scores, "taken_at", start, end)
    if scores.empty:
        raise EmptyPeriod(f"no check-ins between {start} and {end}; choose a period with photos")
    entries = in_period(store.entries(settings), "taken_at", start, end)
    log = in_period(store.lifestyle(settings), "day", start, end)
    return Report(
        start=start,
        end=end,
        created_at=datetime.now().replace(microsecond=0),
        is_demo=settings.is_demo,
        checkins=int(scores["entry_id"].nunique()),
        days_logged=len(log),
        summary=summary_table(scores),
        charts=trend_charts(scores),
        first_photo=_photo(settings, entries.iloc[0]) if not entries.empty else None,
        last_photo=_photo(settings, entries.iloc[-1]) if len(entries) > 1 else None,
        acne=acne_table(scores),
        lifestyle=lifestyle_table(log),
        products=products_used(settings, start, end),
        routine=routine_table(settings, start, end),
        insights=insights(settings, start, end),
        referral=guidance.dermatologist_referral(in_period(all_scores, "taken_at", date.min, end)),
    )


def in_period(frame: pd.DataFrame, column: str, start: date, end: date) -> pd.DataFrame:
    """Rows whose ``column`` falls on a day from ``start`` to ``end``, both included."""
    if frame.empty:
        return frame
    days = pd.to_datetime(frame[column]).dt.normalize()
    keep = (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
    return frame[keep].reset_index(drop=True)


def chart_conditions(scores: pd.DataFrame) -> list[str]:
    """Conditions with a face-wide value in ``scores``: measurements first, then model outputs."""
    present = set(scores.loc[scores["region"] == measure.WHOLE_FACE, "condition"])
    return [c for c in (*measure.CONDITIONS, *MODEL_CHARTS) if c in present]


def trend_charts(scores: pd.DataFrame) -> list[Chart]:
    """One trend figure (daily values, 7-day mean) per condition, whole face."""
    out = []
    for condition in chart_conditions(scores):
        label, unit = labels.label_unit(condition)
        series = analytics.daily_series(scores, condition, measure.WHOLE_FACE)
        if not series.empty:
            out.append(Chart(condition, label, charts.trend_figure(series, f"{label}, whole face", unit)))
    return out


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per condition (whole face): days with a value, the first and last day's value, the change,
    the mean, and whether the change is beyond the measurement's noise band (when one was measured)."""
    columns = ["measurement", "unit", "days", "first", "last", "change", "noise band", "beyond noise", "mean"]
    rows = []
    for condition in chart_conditions(scores):
        label, unit = labels.label_unit(condition)
        series = analytics.daily_series(scores, condition, measure.WHOLE_FACE)
        if series.empty:
            continue
        values = series["value"].astype(float)
        change = values.iloc[-1] - values.iloc[0]
        band = measure.noise_band(condition, measure.WHOLE_FACE) if condition in measure.CONDITIONS else None
        if band is None or len(series) < 2:
            beyond = ""
        else:
            beyond = "no" if abs(change) <= band else ("yes, higher" if change > 0 else "yes, lower")
        rows.append(
            {
                "measurement": label,
                "unit": unit,
                "days": len(series),
                "first": round(values.iloc[0], 2),
                "last": round(values.iloc[-1], 2),
                "change": f"{change:+.2f}" if len(series) > 1 else "",
                "noise band": "" if band is None else f"± {band:.2g}",
                "beyond noise": beyond,
                "mean": round(values.mean(), 2),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def acne_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per check-in with acne scores: when, the grade, its probability and the lesion count."""
    grades = guidance.entry_grades(scores)
    columns = ["taken", "grade", "probability", "lesions"]
    if grades.empty:
        return pd.DataFrame(columns=columns)
    face = scores[scores["region"] == measure.WHOLE_FACE]
    rows = []
    for taken_at, entry_id, grade in grades.itertuples(index=False):
        mine = face[face["entry_id"] == entry_id].set_index("condition")["value"]
        prob = mine.get(f"acne_grade_p{grade}")
        lesions = mine.get("lesion_count")
        rows.append(
            {
                "taken": pd.Timestamp(taken_at).strftime("%Y-%m-%d %H:%M"),
                "grade": GRADE_NAMES[int(grade)],
                "probability": None if prob is None else f"{float(prob):.0%}",
                "lesions": None if lesions is None else round(float(lesions)),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def lifestyle_table(log: pd.DataFrame) -> pd.DataFrame:
    """Per numeric lifestyle factor logged in the period: days logged and the mean."""
    rows = []
    for name, spec in NUMERIC_FIELDS.items():
        if log.empty or name not in log:
            continue
        values = pd.to_numeric(log[name], errors="coerce").dropna()
        if len(values):
            rows.append(
                {"factor": spec.label, "unit": spec.unit, "days": len(values), "mean": round(float(values.mean()), 1)}
            )
    return pd.DataFrame(rows, columns=["factor", "unit", "days", "mean"])


def products_used(settings: Settings, start: date, end: date) -> pd.DataFrame:
    """Products logged as used in the period: product, when (AM/PM), first and last day, days."""
    with schema.connect(settings) as con:
        return con.execute(
            "SELECT p.name AS product, u.time_of_day AS \"when\", strftime(min(u.day), '%Y-%m-%d') AS first_day,"
            " strftime(max(u.day), '%Y-%m-%d') AS last_day, count(*) AS days"
            " FROM product_use u JOIN products p ON p.id = u.product_id"
            " WHERE u.day BETWEEN ? AND ? GROUP BY p.name, u.time_of_day ORDER BY min(u.day), p.name",
            [start, end],
        ).df()


def insights(settings: Settings, start: date, end: date) -> list[str]:
    """The insights in words, from every record up to ``end`` (more days, more power), with the caveat."""
    scores = in_period(store.scores(settings), "taken_at", date.min, end)
    log = in_period(store.lifestyle(settings), "day", date.min, end)
    routine = products.routine(settings)
    routine = routine[routine["start"] <= pd.Timestamp(end)]
    uses = in_period(products.uses(settings), "day", date.min, end)
    found = insight_sentences(compute_insights(scores, log, routine, uses), log)
    return [*found, INSIGHTS_CAVEAT] if found else []


def routine_table(settings: Settings, start: date, end: date) -> pd.DataFrame:
    """Routine periods (product, kind, when, started, stopped) that overlap the period, if recorded."""
    columns = ["product", "kind", "when", "started", "stopped"]
    periods = products.routine(settings)
    if periods.empty:
        return pd.DataFrame(columns=columns)
    overlap = (periods["start"] <= pd.Timestamp(end)) & (
        periods["stop"].isna() | (periods["stop"] >= pd.Timestamp(start))
    )
    rows = periods[overlap]
    return pd.DataFrame(
        {
            "product": rows["product"],
            "kind": rows["kind"],
            "when": rows["time_of_day"],
            "started": rows["start"].dt.strftime("%Y-%m-%d"),
            "stopped": rows["stop"].dt.strftime("%Y-%m-%d").fillna("still in use"),
        }
    ).reset_index(drop=True)


def _photo(settings: Settings, row: pd.Series) -> Photo | None:
    try:
        return Photo(pd.Timestamp(row["taken_at"]).to_pydatetime(), store.read_image(settings, row["aligned_path"]))
    except FileNotFoundError:
        return None


def default_period(scores: pd.DataFrame, days: int = 30) -> tuple[date, date]:
    """The last ``days`` days up to the latest check-in (or today when there is none)."""
    if scores.empty:
        end = date.today()
    else:
        end = pd.Timestamp(scores["taken_at"].max()).date()
    return end - timedelta(days=days - 1), end

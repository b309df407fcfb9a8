"""Plotly figure builders (DataFrame -> go.Figure)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

# Okabe-Ito colours: they keep their meaning for colour-blind readers.
BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#999999"


def trend_figure(
    series: pd.DataFrame,
    title: str,
    unit: str,
    factor: pd.DataFrame | None = None,
    factor_label: str | None = None,
) -> go.Figure:
    """Daily values as points, the rolling mean as a line with its band, a factor on a second axis."""
    fig = go.Figure()
    if not series.empty:
        fig.add_trace(go.Scatter(
            x=list(series["day"]) + list(series["day"][::-1]),
            y=list(series["high"]) + list(series["low"][::-1]),
            fill="toself", fillcolor="rgba(0,114,178,0.15)", line={"width": 0},
            hoverinfo="skip", name="rolling spread", showlegend=False,
        ))  # fmt: skip
        fig.add_trace(go.Scatter(x=series["day"], y=series["value"], mode="markers", name="daily", marker={"color": BLUE, "size": 8}))
        fig.add_trace(go.Scatter(x=series["day"], y=series["rolling"], mode="lines", name="7-day mean", line={"color": BLUE, "width": 2}))
    if factor is not None and not factor.empty:
        fig.add_trace(go.Bar(x=factor["day"], y=factor["value"], name=factor_label or "factor", marker={"color": ORANGE}, opacity=0.45, yaxis="y2"))
        fig.update_layout(yaxis2={"title": factor_label, "overlaying": "y", "side": "right", "showgrid": False})
    fig.update_layout(
        title=title, yaxis_title=unit, hovermode="x unified", margin={"l": 40, "r": 40, "t": 50, "b": 30},
        legend={"orientation": "h", "y": -0.15},
    )  # fmt: skip
    return fig

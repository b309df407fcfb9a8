"""Plotly figure builders (DataFrame -> go.Figure), and the Compare page's image views."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from skintrack.errors import BadValue

# Okabe-Ito colours: they keep their meaning for colour-blind readers.
BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#999999"
PERIOD_COLOURS = ("#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def _add_series(fig: go.Figure, series: pd.DataFrame) -> None:
    """The daily points, the rolling mean and its band; a short history is widened to a week."""
    # numpy arrays, not Python lists: at ten years of days, building and serialising the
    # figure from lists of Timestamps costs ten times more.
    days = pd.to_datetime(series["day"]).to_numpy()
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([days, days[::-1]]),
            y=np.concatenate([series["high"].to_numpy(float), series["low"].to_numpy(float)[::-1]]),
            fill="toself",
            fillcolor="rgba(0,114,178,0.15)",
            line={"width": 0},
            hoverinfo="skip",
            name="rolling spread",
            showlegend=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=days,
            y=series["value"].to_numpy(float),
            mode="markers",
            name="daily",
            marker={"color": BLUE, "size": 8},
            customdata=np.datetime_as_string(days, unit="D"),
            hovertemplate="%{customdata}: %{y:.2f}<extra>daily (click to see the photo)</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=days,
            y=series["rolling"].to_numpy(float),
            mode="lines",
            name="7-day mean",
            line={"color": BLUE, "width": 2},
        )
    )
    first, last = days.min(), days.max()
    if last - first < np.timedelta64(7, "D"):
        # the first days of a history: Plotly would zoom one point to fractions of a second
        week = np.timedelta64(3, "D")
        fig.update_xaxes(range=[first - week, last + week], tickformat="%d %b %Y")


def _add_factor(fig: go.Figure, factor: pd.DataFrame, factor_label: str | None) -> None:
    """The factor as bars on a second y axis."""
    fig.add_trace(
        go.Bar(
            x=factor["day"],
            y=factor["value"],
            name=factor_label or "factor",
            marker={"color": ORANGE},
            opacity=0.45,
            yaxis="y2",
        )
    )
    fig.update_layout(yaxis2={"title": factor_label, "overlaying": "y", "side": "right", "showgrid": False})


def _add_periods(fig: go.Figure, periods: pd.DataFrame, series: pd.DataFrame) -> None:
    """Each product period as a shaded band, one colour per product; an open one runs to the last day (or today)."""
    end = pd.to_datetime(series["day"]).max() if not series.empty else pd.Timestamp.today().normalize()
    colours = {p: PERIOD_COLOURS[i % len(PERIOD_COLOURS)] for i, p in enumerate(dict.fromkeys(periods["product"]))}
    for row in periods.itertuples(index=False):
        stop = row.stop if pd.notna(row.stop) else max(end, row.start)
        fig.add_vrect(
            x0=row.start,
            x1=stop + pd.Timedelta(hours=23),
            fillcolor=colours[row.product],
            opacity=0.12,
            line_width=0,
            layer="below",
            annotation_text=row.product,
            annotation_position="top left",
            annotation_font_size=10,
        )


def trend_figure(
    series: pd.DataFrame,
    title: str,
    unit: str,
    factor: pd.DataFrame | None = None,
    factor_label: str | None = None,
    periods: pd.DataFrame | None = None,
) -> go.Figure:
    """Daily values as points, the rolling mean as a line with its band, a factor on a
    second axis, and product periods (product, start, stop) as shaded bands."""
    fig = go.Figure()
    if not series.empty:
        _add_series(fig, series)
    if factor is not None and not factor.empty:
        _add_factor(fig, factor, factor_label)
    if periods is not None and not periods.empty:
        _add_periods(fig, periods, series)
    fig.update_layout(
        title=title,
        yaxis_title=unit,
        hovermode="closest",
        margin={"l": 40, "r": 40, "t": 50, "b": 30},
        legend={"orientation": "h", "y": -0.15},
        clickmode="event+select",
    )
    return fig


def effects_figure(findings: pd.DataFrame, labels: list[str]) -> go.Figure:
    """Reported effects as points with their intervals, one row per finding (a forest plot)."""
    fig = go.Figure()
    if not findings.empty:
        relative = findings["relative"].notna()
        x = np.where(relative, findings["relative"] * 100, findings["effect"])
        lo = np.where(relative, findings["rel_low"] * 100, findings["low"])
        hi = np.where(relative, findings["rel_high"] * 100, findings["high"])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=labels,
                mode="markers",
                marker={"color": BLUE, "size": 10},
                name="effect",
                error_x={"type": "data", "symmetric": False, "array": hi - x, "arrayminus": x - lo, "color": BLUE},
            )
        )
        fig.add_vline(x=0, line_color=GREY, line_dash="dash")
    fig.update_layout(
        title="Effects with their 95% intervals (adjusted for the tests made)",
        xaxis_title="change (% where shown, else the unit)",
        margin={"l": 40, "r": 20, "t": 50, "b": 30},
        height=120 + 40 * max(len(findings), 1),
        showlegend=False,
    )
    return fig


def change_figure(changes: pd.DataFrame, title: str, unit: str) -> go.Figure:
    """Per-region change between two days as bars, with the noise band as whiskers."""
    fig = go.Figure()
    if not changes.empty:
        colours = [
            GREY if v in ("within noise", "not enough days to know the noise") else ORANGE for v in changes["verdict"]
        ]
        fig.add_trace(
            go.Bar(
                x=changes["region"].str.replace("_", " "),
                y=changes["change"],
                marker={"color": colours},
                name="change",
                error_y={"type": "data", "array": changes["band"].fillna(0), "color": GREY, "thickness": 1},
                hovertext=changes["verdict"],
            )
        )
    fig.update_layout(title=title, yaxis_title=unit, margin={"l": 40, "r": 20, "t": 50, "b": 30}, showlegend=False)
    return fig


# ---------------------------------------------------------------- aligned photos side by side


def _rgb(jpeg: bytes, size: int) -> Image.Image:
    return Image.open(io.BytesIO(jpeg)).convert("RGB").resize((size, size))


def split_view(before: bytes, after: bytes, share: float, size: int = 512) -> np.ndarray:
    """The aligned ``before`` photo left of the divider and ``after`` right of it;
    ``share`` (0-1) is where the divider stands."""
    a, b = np.asarray(_rgb(before, size)), np.asarray(_rgb(after, size))
    cut = int(round(np.clip(share, 0.0, 1.0) * size))
    out = np.concatenate([a[:, :cut], b[:, cut:]], axis=1)
    if 0 < cut < size:
        out[:, max(cut - 1, 0) : cut + 1] = 255
    return out


def timelapse_gif(frames: list[bytes], captions: list[str], ms_per_frame: int = 250, size: int = 256) -> bytes:
    """An animated GIF of aligned photos, each captioned (its date), looping."""
    if not frames:
        raise BadValue("a time-lapse needs at least one photo: choose a period with check-ins")
    images = []
    for jpeg, caption in zip(frames, captions, strict=True):
        img = _rgb(jpeg, size)
        draw = ImageDraw.Draw(img)
        draw.rectangle([0, size - 18, size, size], fill=(0, 0, 0))
        draw.text((6, size - 15), caption, fill=(255, 255, 255))
        images.append(img.convert("P", palette=Image.Palette.ADAPTIVE))
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()

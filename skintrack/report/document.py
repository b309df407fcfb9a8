"""The report as a document: one self-contained HTML file, and a PDF printed by Chromium.

``to_html`` writes the HTML (images inline as base64) and ``to_pdf`` prints it with Chromium;
``make`` gathers (``report.build``), renders and prints in one step, telling a progress bar.
Chart images come from kaleido, which drives the same Chromium; without one, the charts are
embedded as interactive Plotly HTML instead and no PDF can be made.
"""

from __future__ import annotations

import asyncio
import base64
import html
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from skintrack.config import Settings
from skintrack.report import guidance
from skintrack.report.report import Report, build

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHART_SIZE = {"width": 700, "height": 320, "scale": 2}


class ReportError(RuntimeError):
    """The report could not be rendered (for example, Chromium failed to print the PDF)."""


def find_chromium() -> str | None:
    """Path of a Chromium to render with: $BROWSER_PATH, else Debian's chromium, else None."""
    for candidate in (os.environ.get("BROWSER_PATH"), *CHROMIUM_CANDIDATES):
        if candidate:
            path = shutil.which(candidate)
            if path:
                return path
    return None


def chart_images(
    figures: list[go.Figure],
    chromium: str | None = None,
    timeout: float = 60.0,
    on_chart: Callable[[int], None] | None = None,
) -> list[bytes] | None:
    """PNG bytes of each figure from one kaleido session, or None when no Chromium can render.

    ``on_chart(i)`` is called after figure ``i`` is drawn (for a progress bar)."""
    if not figures:
        return []
    chromium = chromium or find_chromium()
    if chromium is None:
        return None
    import kaleido  # here, not at the top: it loads a browser driver, needed only for a PDF

    async def render() -> list[bytes]:
        async with kaleido.Kaleido(n=1, timeout=timeout, mathjax=False, path=chromium) as k:
            out = []
            for i, fig in enumerate(figures):
                out.append(await k.calc_fig(fig, opts={"format": "png", **CHART_SIZE}))
                if on_chart:
                    on_chart(i)
            return out

    try:
        return asyncio.run(render())
    except Exception:  # kaleido and choreographer raise many kinds; fall back to HTML charts
        return None


def to_html(report: Report, images: list[bytes] | None = None) -> str:
    """The report as one self-contained HTML document.

    ``images`` are the charts as PNG (from ``chart_images``); with None the charts are
    embedded as interactive Plotly HTML (plotly.js inline once), so the file still works
    offline.
    """
    parts = [
        *_header_html(report),
        *_photos_html(report),
        *_measurements_html(report),
        *_trends_html(report, images),
        *_acne_html(report),
        *_products_html(report),
        "<h2>Lifestyle</h2>",
        _table(report.lifestyle, "No lifestyle log in this period."),
        *_insights_html(report),
    ]
    body = "\n".join(parts)
    return f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>\n<meta name='viewport' content='width=device-width, initial-scale=1'>\n<title>skintrack report {report.start} to {report.end}</title>\n<style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"


def _header_html(report: Report) -> list[str]:
    """The title, what the report was made from, the disclaimer and any alert."""
    period = f"{report.start:%d %B %Y} to {report.end:%d %B %Y}"
    parts = [
        f"<h1>Skin report: {html.escape(period)}</h1>",
        f"<p class='meta'>Made by skintrack on {report.created_at:%d %B %Y %H:%M} from "
        f"{report.checkins} check-in{'s' if report.checkins != 1 else ''} and "
        f"{report.days_logged} logged day{'s' if report.days_logged != 1 else ''}. "
        "Generated on this computer; nothing was uploaded.</p>",
        f"<p class='note'>{html.escape(guidance.DISCLAIMER)}</p>",
    ]
    if report.is_demo:
        parts.append("<p class='alert'>Demo data: this history is generated, not real photos of anyone.</p>")
    if report.referral is not None:
        parts.append(f"<p class='alert'>{html.escape(report.referral.message)}</p>")
    return parts


def _photos_html(report: Report) -> list[str]:
    """The period's first and last aligned photo, side by side."""
    photos = [(label, p) for label, p in (("Start", report.first_photo), ("End", report.last_photo)) if p]
    if not photos:
        return []
    parts = [
        "<h2>Photos</h2><p class='small'>The first and last check-in of the period, aligned to the same face frame.</p><div class='photos'>"
    ]
    for label, photo in photos:
        parts.append(
            f"<figure><img alt='{label} photo' src='data:image/jpeg;base64,{_b64(photo.jpeg)}'>"
            f"<figcaption>{label}: {photo.taken_at:%d %B %Y %H:%M}</figcaption></figure>"
        )
    parts.append("</div>")
    return parts


def _measurements_html(report: Report) -> list[str]:
    """The summary table of the whole-face measurements, with how to read it."""
    return [
        "<h2>Measurements, whole face</h2>",
        _table(report.summary, "No measurements in this period."),
        "<p class='small'>Daily values (the mean of a day's check-ins): the first and last day of the period, the change "
        "between them, and the period mean. The noise band is the smallest change between two photos that is more "
        "than the noise of photo-taking (measured on repeated photos); a change inside it is not a change.</p>",
    ]


def _trends_html(report: Report, images: list[bytes] | None) -> list[str]:
    """The trend charts: PNG ``images`` where given, else interactive Plotly (plotly.js inline once)."""
    if not report.charts:
        return []
    parts = [
        "<h2>Trends</h2><p class='small'>Points are daily values; the line is the 7-day mean with its spread.</p>",
        "<div class='charts'>",
    ]
    for i, chart in enumerate(report.charts):
        if images is not None and i < len(images):
            parts.append(
                f"<figure class='chart'><img alt='{html.escape(chart.title)} trend' src='data:image/png;base64,{_b64(images[i])}'></figure>"
            )
        else:
            parts.append(
                chart.figure.to_html(
                    full_html=False,
                    include_plotlyjs="inline" if i == 0 else False,
                    default_height="330px",
                    config={"displaylogo": False},
                )
            )
    parts.append("</div>")
    return parts


def _acne_html(report: Report) -> list[str]:
    """The acne model's grade and lesion count per check-in."""
    none = "No acne model scores in this period (no trained model was installed when these photos were checked in)."
    parts = ["<h2>Acne grade and lesion count</h2>", _table(report.acne, none)]
    if not report.acne.empty:
        parts.append(
            "<p class='small'>Hayashi grade from the acne model with its probability; the lesion count is the model's estimate.</p>"
        )
    return parts


def _products_html(report: Report) -> list[str]:
    """The routine periods and the logged product uses."""
    parts = ["<h2>Products</h2>"]
    if not report.routine.empty:
        parts.append("<h3>Routine</h3>" + _table(report.routine, ""))
        parts.append("<h3>Logged uses</h3>")
    parts.append(_table(report.products, "No products were logged in this period."))
    return parts


def _insights_html(report: Report) -> list[str]:
    """The insights in words, or why there are none."""
    parts = [
        f"<h2>Insights</h2><p class='small'>From every record up to {report.end:%d %B %Y}: associations, "
        "with their uncertainty, never a diagnosis.</p>"
    ]
    if report.insights:
        parts.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in report.insights) + "</ul>")
    else:
        parts.append(
            "<p class='empty'>No insights for this period: there is not enough data, or none reached the bar for a claim.</p>"
        )
    return parts


def to_pdf(document: str, chromium: str | None = None, timeout: float = 90.0) -> bytes:
    """Print an HTML document to PDF with headless Chromium; ``ReportError`` if that fails."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise ReportError(
            "no Chromium found to print the PDF: install it (apt-get install chromium) or download the HTML report"
        )
    with tempfile.TemporaryDirectory(prefix="skintrack-report-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(document, encoding="utf-8")
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            src.as_uri(),
        ]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium took over {timeout:.0f} s to print the PDF; try a shorter period") from None
        if not out.exists() or out.stat().st_size == 0:
            raise ReportError("Chromium did not write the PDF; download the HTML report instead")
        return out.read_bytes()


@dataclass(frozen=True)
class Rendered:
    """A report ready to download: the HTML, the PDF when Chromium printed one, and how."""

    report: Report
    html: bytes
    pdf: bytes | None
    chart_images: bool  # charts as PNG (kaleido) rather than interactive Plotly HTML
    note: str | None  # why something is missing (no Chromium, PDF failed), else None


def make(
    settings: Settings, start: date, end: date, pdf: bool = True, progress: Callable[[float, str], None] | None = None
) -> Rendered:
    """Build, render and (when asked and possible) print the report of ``start``..``end``.

    ``progress(fraction, what)`` hears of each step, so a page can show a progress bar."""
    say = progress or (lambda fraction, what: None)
    say(0.0, "Gathering the period's check-ins, logs and insights")
    rep = build(settings, start, end)
    chromium = find_chromium()
    n = max(len(rep.charts), 1)
    say(0.15, f"Drawing {len(rep.charts)} charts")
    images = chart_images(
        [c.figure for c in rep.charts],
        chromium,
        on_chart=lambda i: say(0.15 + 0.65 * (i + 1) / n, f"Drew chart {i + 1} of {len(rep.charts)}"),
    )
    document = to_html(rep, images)
    say(0.85, "Printing the PDF" if pdf and chromium else "Writing the HTML")
    note, printed = None, None
    if chromium is None:
        note = "No Chromium on this computer: the charts are interactive HTML and there is no PDF (apt-get install chromium)."
    elif images is None:
        note = "The chart images could not be drawn, so the charts are interactive HTML."
    if pdf and chromium is not None:
        try:
            printed = to_pdf(document, chromium)
        except ReportError as exc:
            note = str(exc)
    say(1.0, "Report ready")
    return Rendered(rep, document.encode("utf-8"), printed, images is not None, note)


def file_stem(start: date, end: date) -> str:
    return f"skintrack-report-{start:%Y%m%d}-{end:%Y%m%d}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _table(frame: pd.DataFrame, empty: str) -> str:
    if frame is None or frame.empty:
        return f"<p class='empty'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{'' if pd.isna(v) else html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"


_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a;
       max-width: 920px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.5em; margin: 0.2em 0; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta, .small { color: #555; font-size: 0.9em; }
.note { background: #f2f2f2; border-left: 4px solid #999999; padding: 8px 12px; }
.alert { background: #fdf1dc; border-left: 4px solid #E69F00; padding: 8px 12px; font-weight: 600; }
.empty { color: #555; font-style: italic; }
.photos { display: flex; flex-wrap: wrap; gap: 12px; }
.photos figure { flex: 1 1 150px; margin: 0; max-width: 420px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(400px, 1fr)); gap: 8px; }
@media (max-width: 500px) { .charts { grid-template-columns: 1fr; } }
.photos img, .chart img { width: 100%; height: auto; border-radius: 4px; }
figure.chart { margin: 8px 0; break-inside: avoid; }
figcaption { font-size: 0.9em; color: #555; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 4px 10px; text-align: left; }
th { background: #f6f6f6; }
@media (max-width: 500px) { body { padding: 10px; } table { font-size: 0.8em; } th, td { padding: 3px 6px; } }
@media print { body { max-width: none; } h2 { break-after: avoid; } }
"""

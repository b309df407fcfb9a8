"""The report as a document: self-contained HTML, chart images and a PDF through Chromium, from
a real data home (the ``filled`` fixture)."""

from __future__ import annotations

import base64
import re
from datetime import date

import pytest

from skintrack.report import document, report


def test_html_without_chromium_is_self_contained_with_interactive_charts(filled):
    rep = report.build(filled, date(2026, 3, 1), date(2026, 3, 15))  # only the first check-in
    doc = document.to_html(rep, images=None)
    assert rep.last_photo is None and rep.checkins == 1
    assert doc.count("data:image/jpeg;base64,") == 1
    assert "not a medical device" in doc
    assert "Plotly.newPlot" in doc and doc.count("<script") >= len(rep.charts)
    markup = re.sub(r"<script.*?</script>", "", doc, flags=re.S)  # plotly.js itself names URLs in strings
    assert not re.search(r"(src|href)=['\"]https?://", markup)  # nothing to fetch from the internet
    assert "Adapalene 0.1%" in doc and "severe" in doc


@pytest.mark.skipif(
    document.find_chromium() is None, reason="no Chromium: chart images and PDF need one (apt-get install chromium)"
)
def test_chart_images_and_pdf_with_chromium(filled):
    rep = report.build(filled, date(2026, 3, 1), date(2026, 3, 31))
    images = document.chart_images([c.figure for c in rep.charts])
    assert images is not None and len(images) == len(rep.charts)
    assert all(img.startswith(b"\x89PNG") for img in images)
    doc = document.to_html(rep, images)
    assert doc.count("data:image/png;base64,") == len(rep.charts)
    assert doc.count("data:image/jpeg;base64,") == 2
    assert "Plotly.newPlot" not in doc
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", doc).group(1))
    assert png == images[0]
    pdf = document.to_pdf(doc)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000


def test_make_reports_its_progress(filled):
    heard = []
    rendered = document.make(
        filled, date(2026, 3, 1), date(2026, 3, 31), pdf=False, progress=lambda f, what: heard.append((f, what))
    )
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert rendered.pdf is None and rendered.html.startswith(b"<!doctype html>")
    if rendered.chart_images:  # one step per chart drawn by kaleido
        assert sum(what.startswith("Drew chart") for _, what in heard) == len(rendered.report.charts)

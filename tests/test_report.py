"""The dermatologist report, from a real data home: two real check-ins, a logged day, acne scores."""

from __future__ import annotations

import base64
import re
from datetime import date, datetime

import pytest

from skintrack import pipeline
from skintrack.capture import measure
from skintrack.db import store
from skintrack.report import report
from tests.conftest import photo_bytes


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """A home with check-ins on 2 and 20 March 2026, a logged day, and acne scores on both."""
    from skintrack.config import Settings

    settings = Settings.for_home(tmp_path_factory.mktemp("report") / "home")
    first, _ = pipeline.checkin(settings, photo_bytes("obama-720p.jpg"), datetime(2026, 3, 2, 8, 0))
    last, _ = pipeline.checkin(settings, photo_bytes("biden.jpg"), datetime(2026, 3, 20, 8, 30))
    store.log_day(
        settings,
        date(2026, 3, 10),
        {"sleep_hours": 6.5, "stress": 4},
        [("Gentle cleanser", "AM"), ("Adapalene 0.1%", "PM")],
    )
    # A model's output, written as the classifier would write it (grade probabilities, count).
    rows = []
    for entry_id, probs, lesions in ((first, [0.1, 0.2, 0.6, 0.1], 31.0), (last, [0.5, 0.3, 0.15, 0.05], 6.0)):
        rows += [(entry_id, "acne-test@1", f"acne_grade_p{k}", "face", p) for k, p in enumerate(probs)]
        rows += [(entry_id, "acne-test@1", "acne_grade", "face", sum(k * p for k, p in enumerate(probs)))]
        rows += [(entry_id, "acne-test@1", "lesion_count", "face", lesions)]
    store.add_scores(settings, rows)
    return settings


def test_build_gathers_the_period(filled):
    rep = report.build(filled, date(2026, 3, 1), date(2026, 3, 31))
    assert rep.checkins == 2 and rep.days_logged == 1
    assert rep.first_photo.taken_at == datetime(2026, 3, 2, 8, 0)
    assert rep.last_photo.taken_at == datetime(2026, 3, 20, 8, 30)
    assert rep.first_photo.jpeg[:2] == b"\xff\xd8" and rep.first_photo.jpeg != rep.last_photo.jpeg
    assert {"redness", "ita", "acne_grade", "lesion_count"} <= {c.condition for c in rep.charts}
    assert list(rep.acne["grade"]) == ["severe", "mild"]
    assert list(rep.acne["probability"]) == ["60%", "50%"]
    assert list(rep.acne["lesions"]) == [31, 6]
    assert set(rep.products["product"]) == {"Gentle cleanser", "Adapalene 0.1%"}
    assert rep.lifestyle.set_index("factor").loc["Sleep", "mean"] == 6.5
    redness = rep.summary.set_index("measurement").loc["Redness (a*)"]
    assert redness["days"] == 2
    assert redness["mean"] == pytest.approx((redness["first"] + redness["last"]) / 2, abs=0.01)
    assert float(redness["change"]) == pytest.approx(redness["last"] - redness["first"], abs=0.011)
    band = measure.noise_band("redness")
    if band is None:
        assert redness["noise band"] == "" and redness["beyond noise"] == ""
    else:
        assert redness["noise band"] == f"± {band:.2g}"
        assert redness["beyond noise"] == (
            "no"
            if abs(float(redness["change"])) <= band
            else "yes, higher"
            if float(redness["change"]) > 0
            else "yes, lower"
        )
    grade = rep.summary.set_index("measurement").loc[report.MODEL_CHARTS["acne_grade"][0]]
    assert grade["noise band"] == "" and grade["days"] == 2  # no band is claimed for a model output
    assert rep.referral is None


def test_a_period_without_check_ins_is_refused(filled):
    with pytest.raises(report.EmptyPeriod, match="no check-ins"):
        report.build(filled, date(2026, 4, 1), date(2026, 4, 30))
    with pytest.raises(ValueError, match="before it starts"):
        report.build(filled, date(2026, 3, 31), date(2026, 3, 1))


def test_html_without_chromium_is_self_contained_with_interactive_charts(filled):
    rep = report.build(filled, date(2026, 3, 1), date(2026, 3, 15))  # only the first check-in
    doc = report.to_html(rep, images=None)
    assert rep.last_photo is None and rep.checkins == 1
    assert doc.count("data:image/jpeg;base64,") == 1
    assert "not a medical device" in doc
    assert "Plotly.newPlot" in doc and doc.count("<script") >= len(rep.charts)
    markup = re.sub(r"<script.*?</script>", "", doc, flags=re.S)  # plotly.js itself names URLs in strings
    assert not re.search(r"(src|href)=['\"]https?://", markup)  # nothing to fetch from the internet
    assert "Adapalene 0.1%" in doc and "severe" in doc


@pytest.mark.skipif(
    report.find_chromium() is None, reason="no Chromium: chart images and PDF need one (apt-get install chromium)"
)
def test_chart_images_and_pdf_with_chromium(filled):
    rep = report.build(filled, date(2026, 3, 1), date(2026, 3, 31))
    images = report.chart_images([c.figure for c in rep.charts])
    assert images is not None and len(images) == len(rep.charts)
    assert all(img.startswith(b"\x89PNG") for img in images)
    doc = report.to_html(rep, images)
    assert doc.count("data:image/png;base64,") == len(rep.charts)
    assert doc.count("data:image/jpeg;base64,") == 2
    assert "Plotly.newPlot" not in doc
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", doc).group(1))
    assert png == images[0]
    pdf = report.to_pdf(doc)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000


def test_make_reports_its_progress(filled):
    heard = []
    rendered = report.make(
        filled, date(2026, 3, 1), date(2026, 3, 31), pdf=False, progress=lambda f, what: heard.append((f, what))
    )
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert rendered.pdf is None and rendered.html.startswith(b"<!doctype html>")
    if rendered.chart_images:  # one step per chart drawn by kaleido
        assert sum(what.startswith("Drew chart") for _, what in heard) == len(rendered.report.charts)


def test_default_period_ends_at_the_latest_check_in(filled):
    start, end = report.default_period(store.scores(filled), days=30)
    assert end == date(2026, 3, 20) and (end - start).days == 29


def test_app_opens_on_welcome_then_report_page_offers_the_reminder(home):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Welcome to skintrack"  # an empty home opens on the welcome page
    at.switch_page("views/report.py").run()
    assert not at.exception
    assert "No check-ins yet" in at.info[0].value
    assert at.time_input[0].value.strftime("%H:%M") == "08:00"


def test_welcome_makes_the_demo_home_beside_the_real_one(home, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from skintrack import demo
    from skintrack.config import Settings
    from tests.conftest import ROOT

    monkeypatch.setenv("HOME", str(tmp_path / "user"))  # demo.default_home() is under the user's home
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    at.switch_page("views/welcome.py").run()  # AppTest reruns its current page, not the one switched to
    next(b for b in at.button if b.label == "Make the demo home").click().run()
    assert not at.exception
    assert any(str(demo.default_home()) in s.value for s in at.success), [e.value for e in at.error] + [
        t.value for t in at.title
    ]
    assert Settings.for_home(demo.default_home()).is_demo
    assert not store.scores(Settings.for_home(demo.default_home())).empty
    assert store.scores(Settings.for_home(home)).empty  # the real home is untouched

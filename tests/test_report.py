"""The dermatologist report, from a real data home: two real check-ins, a logged day, acne scores."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from skintrack.capture import measure
from skintrack.db import store
from skintrack.report import report


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

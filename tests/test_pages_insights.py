"""Lifestyle, Trends and Compare through AppTest on a demo home."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from skintrack import demo
from skintrack.config import Settings
from skintrack.db import erase, products, store

TIMEOUT = 120


@pytest.fixture
def demo_app(home):
    demo.build(home, days=60, seed=0)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def test_demo_banner_and_trends_with_insights(demo_app):
    assert any("Demo home" in w.value for w in demo_app.warning)
    demo_app.switch_page("views/trends.py").run()
    assert not demo_app.exception
    figure = json.loads(demo_app.get("plotly_chart")[0].proto.spec)
    names = [t.get("name") for t in figure["data"]]
    assert "daily" in names and "7-day mean" in names
    shapes = figure["layout"].get("shapes", [])
    assert len(shapes) == 3  # the three product periods, shaded
    assert any(h.value == "Insights" for h in demo_app.header)
    text = " ".join(m.value for m in demo_app.markdown)
    assert "not enough data yet" in text.lower() or "after" in text
    next(s for s in demo_app.selectbox if s.label == "Lifestyle overlay").set_value("sleep_hours").run()
    assert not demo_app.exception
    next(s for s in demo_app.selectbox if s.label == "Region").set_value("nose").run()
    assert not demo_app.exception


def test_lifestyle_carry_forward_edit_delete_and_routine(demo_app, home):
    settings = Settings.for_home(home)
    today = date.today()
    store.delete_day(settings, today)
    demo_app.switch_page("views/lifestyle.py").run()
    assert not demo_app.exception
    carry = next(b for b in demo_app.button if b.label.startswith("Carry "))
    carry.click().run()
    assert not demo_app.exception
    assert any("Filled in from" in i.value for i in demo_app.info)
    sleep = next(n for n in demo_app.number_input if n.label.startswith("Sleep ("))
    assert sleep.value is not None
    sleep.set_value(5.0)
    next(b for b in demo_app.button if b.label == "Save the day").click().run()
    assert not demo_app.exception
    assert any("Saved the log" in s.value for s in demo_app.success)
    saved = store.get_day(settings, today)
    assert saved["sleep_hours"] == 5.0 and saved["products"]  # the routine came along
    # Delete it again.
    next(b for b in demo_app.button if b.label == "Yes, delete it").click().run()
    assert not demo_app.exception
    assert store.get_day(settings, today) is None
    # Stop a product.
    stop_form = next(s for s in demo_app.selectbox if s.label == "Product in use")
    stop_form.set_value(demo.PLACEBO)
    next(b for b in demo_app.button if b.label == "Stop").click().run()
    assert not demo_app.exception
    periods = products.routine(settings)
    assert periods.loc[periods["product"] == demo.PLACEBO, "stop"].notna().all()


def test_starting_a_product_twice_is_refused_with_the_reason(demo_app):
    demo_app.switch_page("views/lifestyle.py").run()
    start = next(s for s in demo_app.selectbox if s.label == "Product")
    start.set_value(demo.TREATMENT)
    next(b for b in demo_app.button if b.label == "Start").click().run()
    assert not demo_app.exception
    assert any("already in the routine" in e.value for e in demo_app.error)


def test_compare_page_with_demo_photos_and_timelapse(demo_app):
    demo_app.switch_page("views/compare.py").run()
    assert not demo_app.exception
    assert len(demo_app.get("imgs")) >= 3 or len(demo_app.image) >= 3
    assert not demo_app.dataframe[0].value.empty
    verdicts = set(demo_app.dataframe[0].value["verdict"])
    assert verdicts <= {"higher", "lower", "within noise", "not enough days to know the noise"}
    demo_app.slider[0].set_value(0.2).run()
    assert not demo_app.exception
    next(b for b in demo_app.button if b.label == "Make the time-lapse").click().run()
    assert not demo_app.exception
    assert any(b.proto.label == "Download the GIF" for b in demo_app.get("download_button"))


def test_compare_with_one_day_says_what_it_needs(home):
    settings = Settings.for_home(home)
    demo.build(home, days=14)
    last = store.entries(settings)["taken_at"].max().date()
    erase.delete_span(settings, last - timedelta(days=20), last - timedelta(days=1))
    assert store.entries(settings)["taken_at"].dt.date.nunique() == 1
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    assert any("at least two days" in i.value for i in at.info)


def test_cycle_day_is_asked_only_after_opting_in(demo_app):
    demo_app.switch_page("views/lifestyle.py").run()
    assert not any(n.label.startswith("Cycle day") for n in demo_app.number_input)
    next(t for t in demo_app.toggle if t.label == "Track my menstrual cycle").set_value(True).run()
    assert not demo_app.exception
    assert any(n.label.startswith("Cycle day") for n in demo_app.number_input)

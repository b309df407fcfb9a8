"""The pages through Streamlit's AppTest: a check-in and a day's log reach the Trends chart."""

import base64
import json
from datetime import date, datetime

import numpy as np
import pytest
from conftest import ROOT, cut_off, darker, jpeg_bytes, photo_bytes, rgb_of, with_face_in_corner
from streamlit.testing.v1 import AppTest

TIMEOUT = 60


@pytest.fixture
def app(home):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()  # an empty home opens once on the welcome page
    return at.switch_page("views/checkin.py").run()


def test_checkin_page_guides_before_a_photo(app):
    assert not app.exception
    assert any("good photo" in i.value for i in app.info)


def test_refused_photo_says_why(app):
    app.file_uploader[0].set_value(("notes.jpg", b"not a photo at all", "image/jpeg"))
    app.run()
    assert not app.exception
    assert any("not an image" in e.value for e in app.error)


def test_checkin_says_what_the_skin_tone_test_found_for_dark_skin(app):
    """ACNE04 has almost no dark skin: for a face measured dark the page quotes the shipped
    model's paired skin-tone test at that tone."""
    app.file_uploader[0].set_value(("me.jpg", jpeg_bytes(darker(rgb_of("obama-1080p.jpg"), -45.0)), "image/jpeg"))
    app.run()
    assert not app.exception
    assert any("every quality check passed" in s.value for s in app.success)
    notes = [m.value for m in [*app.warning, *app.info] if "re-rendered at this tone" in m.value]
    assert len(notes) == 1 and "Your skin measured dark" in notes[0], [m.value for m in [*app.warning, *app.info]]


def test_checkin_says_what_a_cut_face_or_a_background_face_changed(app):
    """A chin outside the photo: the chin and the acne grade not measured, in one line with the fix;
    a much smaller face behind the subject: analysed all the same, and said so."""
    cut, _ = cut_off(rgb_of("obama-1080p.jpg"), "bottom", 0.12)
    app.file_uploader[0].set_value(("cut.jpg", jpeg_bytes(cut), "image/jpeg"))
    app.run()
    assert not app.exception and not app.error
    lines = [w.value for w in app.warning if "outside the photo" in w.value]
    assert len(lines) == 1 and lines[0].startswith("not measured: acne grade, the chin: chin outside the photo (")
    assert lines[0].endswith("keep your whole face in the frame")
    # the acne panel says why there is no grade, not that no model is installed
    assert any(i.value.startswith("Not graded: chin outside the photo (") for i in app.info), [
        i.value for i in app.info
    ]
    assert not any("No trained acne model" in i.value for i in app.info)
    app.file_uploader[0].set_value(("behind.jpg", jpeg_bytes(with_face_in_corner(0.4)), "image/jpeg"))
    app.run()
    assert not app.exception and not app.error
    assert any(i.value == "another, smaller face in the photo was ignored" for i in app.info)


def test_checkin_log_and_trend(app, home):
    # Check in a real portrait through the page.
    app.file_uploader[0].set_value(("me.jpg", photo_bytes("obama-1080p.jpg"), "image/jpeg"))
    app.run()
    assert not app.exception
    assert any("every quality check passed" in s.value for s in app.success)
    assert len(app.image) == 1  # the aligned face with regions
    assert not app.dataframe[0].value.empty
    # the accuracy quoted is on people the model was not trained on, not the 80.6% that counts them
    quoted = [c.value for c in app.caption if "people it was not trained on" in c.value]
    assert len(quoted) == 1 and "Held-out accuracy" not in quoted[0], [c.value for c in app.caption]
    app.date_input[0].set_value(date.today())
    save = next(b for b in app.button if b.label == "Save check-in")
    save.click().run()
    assert not app.exception
    assert any("Saved as entry 1" in s.value for s in app.success)

    # Log today on the Lifestyle page.
    app.switch_page("views/lifestyle.py").run()
    assert not app.exception
    sleep = next(n for n in app.number_input if n.label.startswith("Sleep ("))
    sleep.set_value(5.5)
    next(b for b in app.button if b.label == "Save the day").click().run()
    assert not app.exception
    assert any("Saved the log" in s.value for s in app.success)

    # Both reach the Trends chart.
    app.switch_page("views/trends.py").run()
    assert not app.exception
    next(s for s in app.selectbox if s.label == "Lifestyle overlay").set_value("sleep_hours").run()
    assert not app.exception
    chart = app.get("plotly_chart")[0]
    figure = json.loads(chart.proto.spec)
    names = [t.get("name") for t in figure["data"]]
    assert "daily" in names and "Sleep" in names
    sleep_trace = next(t for t in figure["data"] if t.get("name") == "Sleep")
    assert _values(sleep_trace["y"]) == [5.5]
    assert len(_values(next(t for t in figure["data"] if t.get("name") == "daily")["y"])) == 1


def _values(data) -> list[float]:
    """Plotly may ship an array as a base64 typed array: {"dtype": "f8", "bdata": ...}."""
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"])).tolist()
    return list(data)


def test_checkin_page_draws_a_measurement_over_the_face(app):
    app.file_uploader[0].set_value(("me.jpg", photo_bytes("obama-1080p.jpg"), "image/jpeg"))
    app.run()
    view = next(s for s in app.selectbox if s.label == "Show on the face")
    regions = app.image[0].proto.imgs[0].url
    view.set_value("redness").run()
    assert not app.exception
    assert "Redness" in app.image[0].proto.imgs[0].caption
    assert app.image[0].proto.imgs[0].url != regions


def test_trends_sees_checkins_made_outside_the_app(app, settings):
    """The command line may check in while the app is open: cached queries must notice."""
    from skintrack import pipeline

    pipeline.checkin(settings, photo_bytes("obama-1080p.jpg"), datetime(2026, 3, 1, 8))
    app.switch_page("views/trends.py").run()
    assert any(c.value.startswith("1 day with check-ins") for c in app.caption)
    pipeline.checkin(settings, photo_bytes("biden.jpg"), datetime(2026, 3, 2, 8))  # no cache clearing
    app.run()
    assert not app.exception
    assert any("2 days with check-ins" in c.value for c in app.caption)

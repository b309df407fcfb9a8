"""Guidance: one-line refusal fixes, capture tips, and the dermatologist rule on literal frames."""

from datetime import datetime, timedelta

import pandas as pd

from skintrack.report import guidance


def acne_scores(grades: list[int], every_days: float = 2.0, start=datetime(2026, 1, 1, 8), probs=True) -> pd.DataFrame:
    """A scores frame with one check-in per ``every_days`` days graded ``grades``."""
    rows = []
    for i, grade in enumerate(grades):
        at = start + timedelta(days=every_days * i)
        rows.append((at, i + 1, "model@1", "acne_grade", "face", float(grade) - 0.3))
        if probs:
            p = [0.1, 0.1, 0.1, 0.1]
            p[grade] = 0.7
            rows += [(at, i + 1, "model@1", f"acne_grade_p{k}", "face", v) for k, v in enumerate(p)]
        rows.append((at, i + 1, "measure@1", "redness", "face", 12.0))
    return pd.DataFrame(rows, columns=["taken_at", "entry_id", "source", "condition", "region", "value"])


def test_refusal_keeps_the_fix_the_core_gives():
    line = guidance.refusal_line("no face found: face the camera in even light, with your whole face in the frame")
    assert (
        line
        == "This photo cannot be used (no face found): face the camera in even light, with your whole face in the frame."
    )
    assert "\n" not in line


def test_refusal_without_a_fix_gets_one():
    assert guidance.refusal_line("photo too blurry").endswith(
        "hold still, clean the lens and tap to focus on your face."
    )
    assert "retake the photo" in guidance.refusal_line("something odd happened")
    assert "retake the photo" in guidance.refusal_line("")


def test_capture_tips_mention_the_essentials():
    text = guidance.capture_tips_markdown() + guidance.capture_tips_line()
    for word in ("window", "flash", "warm lamp", "still", "arm's length", "straight", "glasses", "make-up", "neutral"):
        assert word in text


def test_two_weeks_of_severe_grades_prompt_a_dermatologist():
    referral = guidance.dermatologist_referral(
        acne_scores([0, 1, 2, 3, 2, 2, 3, 2, 2, 2])
    )  # 8 severe check-ins over 14 days
    assert referral is not None
    assert referral.days == 14 and referral.checkins == 8
    assert referral.since == datetime(2026, 1, 5).date()
    assert "dermatologist" in referral.message


def test_no_prompt_for_less_than_two_weeks_or_a_milder_latest_day():
    assert guidance.dermatologist_referral(acne_scores([2, 2, 2, 2, 2, 2, 2])) is None  # 12 days
    assert guidance.dermatologist_referral(acne_scores([2] * 10 + [1])) is None  # latest is moderate
    assert guidance.dermatologist_referral(acne_scores([2] * 5 + [1] + [2] * 5)) is None  # broken run of 8 days
    assert guidance.dermatologist_referral(acne_scores([3], every_days=20)) is None  # one check-in


def test_rule_uses_the_expected_grade_without_probabilities():
    assert guidance.dermatologist_referral(acne_scores([3] * 9, probs=False)) is not None  # 2.7 rounds to 3


def test_no_acne_scores_no_prompt():
    scores = acne_scores([3] * 10)
    assert guidance.dermatologist_referral(scores[scores["condition"] == "redness"]) is None
    assert guidance.dermatologist_referral(scores.iloc[0:0]) is None
    assert guidance.entry_grades(scores.iloc[0:0]).empty


def test_the_app_prompts_a_dermatologist_after_two_severe_weeks(settings):
    """Two real check-ins 15 days apart, both graded severe by a model: every page says so."""
    from streamlit.testing.v1 import AppTest

    from skintrack import pipeline
    from skintrack.db import store
    from tests.conftest import ROOT, photo_bytes

    rows = []
    for photo, day in (("obama-720p.jpg", datetime(2026, 3, 1, 8)), ("biden.jpg", datetime(2026, 3, 16, 8))):
        entry_id, _ = pipeline.checkin(settings, photo_bytes(photo), day)
        rows += [(entry_id, "acne-test@1", f"acne_grade_p{k}", "face", p) for k, p in enumerate([0.05, 0.15, 0.6, 0.2])]
    store.add_scores(settings, rows)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("see a dermatologist" in w.value and "1 March 2026" in w.value for w in at.warning)


def test_grades_come_from_the_model_the_store_calls_latest_whatever_the_frame_order(settings):
    from skintrack.db import measurements, schema, store

    at = datetime(2026, 3, 1, 8, 30)  # two check-ins at the same minute: the later id is the latest

    def entry(sha: str, source: str, grade: int) -> store.NewEntry:
        return store.NewEntry(
            taken_at=at,
            image_sha256=sha,
            original_jpeg=b"o",
            aligned_jpeg=b"a",
            width=640,
            height=480,
            quality={},
            alignment_rms=1.0,
            yaw=0.0,
            pitch=0.0,
            roll=0.0,
            scores=[(source, "acne_grade", "face", float(grade))],
        )

    store.add_entries(settings, [entry("a" * 64, "old@1", 1), entry("b" * 64, "new@2", 3)])
    with schema.connect(settings) as con:
        assert measurements.read_daily_values(con)["value"].tolist() == [3.0]  # the SQL rule: new@2
    scores = store.scores(settings)
    for frame in (scores, scores.iloc[::-1]):
        assert guidance.entry_grades(frame)["grade"].tolist() == [3]

"""The day's log: validation, carrying a day forward, editing and deleting."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from skintrack.db import lifestyle, store


def test_validate_names_the_bad_value_and_the_range():
    with pytest.raises(lifestyle.InvalidLog, match=r"sleep 25 is out of range: 0-24 hours"):
        lifestyle.validate({"sleep_hours": 25})
    with pytest.raises(lifestyle.InvalidLog, match="whole number"):
        lifestyle.validate({"stress": 2.5})
    assert lifestyle.validate({"diet": ["Dairy ", "dairy", ""], "sleep_hours": "7.5"}) == {
        "diet": ["dairy"],
        "sleep_hours": 7.5,
    }


def test_parse_day_refuses_the_future():
    with pytest.raises(lifestyle.InvalidLog, match="in the future"):
        lifestyle.parse_day("2026-03-02", today=date(2026, 3, 1))
    assert lifestyle.parse_day("yesterday", today=date(2026, 3, 1)) == date(2026, 2, 28)


def test_exposure_thresholds():
    short = next(e for e in lifestyle.EXPOSURES if e.name == "short sleep")
    out = short.applies([5.9, 6.0, np.nan])
    assert out[0] == 1.0 and out[1] == 0.0 and np.isnan(out[2])


def test_carry_forward_keeps_habits_not_the_note_and_advances_the_cycle():
    previous = {
        "sleep_hours": 7.0,
        "stress": 3,
        "note": "party",
        "diet": ["dairy"],
        "cycle_day": 12,
        "products": [("SPF", "AM")],
    }
    out = lifestyle.carry_forward(previous, gap_days=2)
    assert out["sleep_hours"] == 7.0 and out["diet"] == ["dairy"] and out["products"] == [("SPF", "AM")]
    assert "note" not in out and out["cycle_day"] == 14
    assert lifestyle.carry_forward(None) == {}


def test_edit_and_delete_a_day(settings):
    day = date(2026, 1, 5)
    store.log_day(settings, day, lifestyle.validate({"sleep_hours": 6, "note": "first"}), [("SPF", "AM")])
    store.log_day(settings, day, lifestyle.validate({"sleep_hours": 8}), [])
    saved = store.get_day(settings, day)
    assert saved["sleep_hours"] == 8 and saved["note"] is None and saved["products"] == []
    assert store.delete_day(settings, day) is True
    assert store.get_day(settings, day) is None
    assert store.delete_day(settings, day) is False

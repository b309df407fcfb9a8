"""The daily reminder: a valid RFC 5545 calendar with a daily rule, CRLF lines, folded."""

from datetime import UTC, date, datetime, time

import pytest

from skintrack.report import reminders


def unfold(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # every line break is CRLF
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def test_daily_reminder_is_a_daily_event_at_the_chosen_time():
    ics = reminders.daily_reminder(
        time(7, 45), start=date(2026, 3, 1), uid="abc", now=datetime(2026, 2, 1, 12, tzinfo=UTC)
    )
    lines = unfold(ics)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    assert "DTSTART:20260301T074500" in lines
    assert "RRULE:FREQ=DAILY" in lines
    assert "DTSTAMP:20260201T120000Z" in lines
    assert "UID:abc@skintrack.local" in lines
    # balanced components, alarm inside the event
    assert (
        lines.index("BEGIN:VEVENT")
        < lines.index("BEGIN:VALARM")
        < lines.index("END:VALARM")
        < lines.index("END:VEVENT")
    )


def test_lines_are_folded_at_75_octets_and_text_is_escaped():
    summary = "Skin photo; face the window, no flash " + "é" * 60
    ics = reminders.daily_reminder(time(21, 0), summary=summary)
    for raw in ics.split(b"\r\n"):
        assert len(raw) <= 75
    lines = unfold(ics)
    assert f"SUMMARY:{reminders.escape_text(summary)}" in lines
    assert (
        "SUMMARY:Skin photo\\; face the window\\, no flash "
        in lines[lines.index(f"SUMMARY:{reminders.escape_text(summary)}")]
    )
    ics.decode("utf-8")  # folding never splits a character


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="datetime.time"):
        reminders.daily_reminder("08:00")
    with pytest.raises(ValueError, match="1-1440"):
        reminders.daily_reminder(time(8), duration_min=0)

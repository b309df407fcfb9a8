"""A daily check-in reminder as an iCalendar file (RFC 5545) that any calendar app imports.

The event starts at a floating local time (no time zone), so "08:00" stays 08:00 wherever
the user travels, and repeats with ``RRULE:FREQ=DAILY``; an alarm fires at its start.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

PRODID = "-//skintrack//daily reminder//EN"
MAX_OCTETS = 75  # RFC 5545 3.1: lines longer than this are folded


def escape_text(text: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma, newline."""
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line at 75 octets, never inside a UTF-8 character (RFC 5545 3.1)."""
    out, current, size = [], "", 0
    for char in line:
        n = len(char.encode("utf-8"))
        limit = MAX_OCTETS if not out else MAX_OCTETS - 1  # continuation lines start with a space
        if size + n > limit:
            out.append(current)
            current, size = "", 0
        current += char
        size += n
    out.append(current)
    return "\r\n ".join(out)


def daily_reminder(
    at: time,
    start: date | None = None,
    summary: str = "skintrack: today's skin photo",
    description: str = "Face a window, no flash, arm's length, neutral face. Then open skintrack and check in.",
    duration_min: int = 5,
    uid: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """The .ics bytes of an event every day at ``at`` (local time) from ``start`` (today)."""
    if not isinstance(at, time):
        raise ValueError(f"reminder time must be a datetime.time, got {at!r}")
    if not 1 <= duration_min <= 24 * 60:
        raise ValueError(f"reminder duration must be 1-1440 minutes, got {duration_min}")
    start = start or date.today()
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    begin = datetime.combine(start, at.replace(second=0, microsecond=0, tzinfo=None))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{uid or uuid.uuid4()}@skintrack.local",
        f"DTSTAMP:{stamp:%Y%m%dT%H%M%SZ}",
        f"DTSTART:{begin:%Y%m%dT%H%M%S}",
        f"DURATION:PT{duration_min}M",
        "RRULE:FREQ=DAILY",
        f"SUMMARY:{escape_text(summary)}",
        f"DESCRIPTION:{escape_text(description)}",
        "TRANSP:TRANSPARENT",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        f"DESCRIPTION:{escape_text(summary)}",
        "TRIGGER:PT0M",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines).encode("utf-8")

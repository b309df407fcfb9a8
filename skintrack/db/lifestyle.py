"""The day's lifestyle log: its fields, their limits, and validation.

One definition serves the command line, the Lifestyle page and the analytics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from skintrack.errors import Refused

DIET_TAGS = ("dairy", "sugar", "fast food", "fried", "chocolate", "spicy", "high glycemic", "vegetables", "fish")
TIMES_OF_DAY = ("AM", "PM")
MAX_NOTE = 2000
MAX_NAME = 120


@dataclass(frozen=True)
class Field:
    """A numeric lifestyle field: its label, unit and allowed range."""

    name: str
    label: str
    unit: str
    low: float
    high: float
    integer: bool = False


NUMERIC_FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("sleep_hours", "Sleep", "hours", 0, 24),
        Field("sleep_quality", "Sleep quality", "1-5", 1, 5, integer=True),
        Field("water_l", "Water", "litres", 0, 15),
        Field("stress", "Stress", "1-5", 1, 5, integer=True),
        Field("exercise_min", "Exercise", "minutes", 0, 1440, integer=True),
        Field("alcohol_units", "Alcohol", "units", 0, 50),
        Field("cycle_day", "Cycle day", "day", 1, 60, integer=True),
        Field("sun_min", "Sun exposure", "minutes", 0, 1440, integer=True),
    )
}


class InvalidLog(Refused, ValueError):
    """A lifestyle value is out of range or malformed; the message names it."""


def parse_day(text: str | date, today: date | None = None) -> date:
    """A log date from ``YYYY-MM-DD``, ``today`` or ``yesterday``; never in the future."""
    today = today or date.today()
    if isinstance(text, datetime):
        day = text.date()
    elif isinstance(text, date):
        day = text
    elif text.strip().lower() == "today":
        day = today
    elif text.strip().lower() == "yesterday":
        day = date.fromordinal(today.toordinal() - 1)
    else:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise InvalidLog(f"invalid date {text!r}: use YYYY-MM-DD, 'today' or 'yesterday'") from None
    if day > today:
        raise InvalidLog(f"{day.isoformat()} is in the future; log today or an earlier day")
    return day


def validate(values: dict) -> dict:
    """Check and normalise a day's values; unknown names and out-of-range values raise ``InvalidLog``."""
    out: dict = {}
    for name, value in values.items():
        if value is None or value == "":
            out[name] = None
            continue
        if name in NUMERIC_FIELDS:
            spec = NUMERIC_FIELDS[name]
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                raise InvalidLog(f"{spec.label.lower()} must be a number, not {str(value)[:20]!r}") from None
            if not spec.low <= number <= spec.high or number != number:
                raise InvalidLog(
                    f"{spec.label.lower()} {str(value)[:20]} is out of range: {spec.low:g}-{spec.high:g} {spec.unit}"
                )
            if spec.integer and number != int(number):
                raise InvalidLog(f"{spec.label.lower()} must be a whole number, not {value}")
            out[name] = int(number) if spec.integer else number
        elif name == "diet":
            if isinstance(value, str):
                tags = [value]
            elif isinstance(value, (list, tuple, set)):
                tags = list(value)
            else:
                raise InvalidLog(f"diet must be a list of tags, not {type(value).__name__}")
            tags = [str(t).strip().lower() for t in tags if str(t).strip()]
            if any(len(t) > MAX_NAME for t in tags):
                raise InvalidLog(f"a diet tag is longer than {MAX_NAME} characters")
            out[name] = sorted(set(tags))
        elif name == "note":
            note = str(value)
            if len(note) > MAX_NOTE:
                raise InvalidLog(f"the note is {len(note)} characters; at most {MAX_NOTE}")
            out[name] = note
        else:
            raise InvalidLog(f"unknown lifestyle field {name!r}")
    return out


def validate_products(products: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Product uses as (name, AM|PM); names trimmed, non-empty and of sane length."""
    out = []
    for name, time_of_day in products:
        name = " ".join(str(name).split())
        if not name:
            raise InvalidLog("a product name is empty")
        if len(name) > MAX_NAME:
            raise InvalidLog(f"product name {name[:20]!r}... is longer than {MAX_NAME} characters")
        if time_of_day not in TIMES_OF_DAY:
            raise InvalidLog(f"time of day {time_of_day!r} must be one of {', '.join(TIMES_OF_DAY)}")
        out.append((name, time_of_day))
    return sorted(set(out))


# ---------------------------------------------------------------- exposures for the analytics


@dataclass(frozen=True)
class Exposure:
    """A yes/no question about a logged day that the insights test, with its plain words.

    Fixed, readable thresholds rather than thresholds fitted to the data: a cut-off chosen
    after looking would be one more comparison that the correction does not count.
    """

    name: str
    field: str
    op: str  # "<", "<=" or ">="
    threshold: float
    words: str  # completes "days after ..." / "on ..."

    def applies(self, values):
        """1.0 where the day meets the threshold, 0.0 where it does not, NaN where not logged."""
        import numpy as np

        values = np.asarray(values, dtype=float)
        hit = {"<": values < self.threshold, "<=": values <= self.threshold, ">=": values >= self.threshold}[self.op]
        return np.where(np.isnan(values), np.nan, hit.astype(float))


EXPOSURES: tuple[Exposure, ...] = (
    Exposure("short sleep", "sleep_hours", "<", 6, "nights under 6 h of sleep"),
    Exposure("poor sleep", "sleep_quality", "<=", 2, "nights of poor sleep (quality 1-2)"),
    Exposure("little water", "water_l", "<", 1.5, "days with under 1.5 l of water"),
    Exposure("high stress", "stress", ">=", 4, "stressful days (stress 4-5)"),
    Exposure("exercise", "exercise_min", ">=", 30, "days with 30+ minutes of exercise"),
    Exposure("alcohol", "alcohol_units", ">=", 2, "days with 2+ units of alcohol"),
    Exposure("sun", "sun_min", ">=", 30, "days with 30+ minutes of sun"),
    Exposure("late cycle", "cycle_day", ">=", 21, "cycle days 21 and later"),
)

# Copied from the last logged day by "carry forward": habits, not the day's events.
CARRIED_FIELDS = (
    "sleep_hours",
    "sleep_quality",
    "water_l",
    "stress",
    "exercise_min",
    "diet",
    "alcohol_units",
    "sun_min",
)


def carry_forward(previous: dict | None, gap_days: int = 1) -> dict:
    """A new day's starting values from the previous logged day: habits and products, no note.

    The cycle day, when logged, advances by ``gap_days`` (the days since that log).
    """
    if not previous:
        return {}
    out = {k: previous.get(k) for k in CARRIED_FIELDS}
    out["diet"] = list(previous.get("diet") or [])
    out["products"] = list(previous.get("products") or [])
    cycle = previous.get("cycle_day")
    if cycle is not None and cycle + gap_days <= NUMERIC_FIELDS["cycle_day"].high:
        out["cycle_day"] = int(cycle + gap_days)
    return out

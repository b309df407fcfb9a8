"""Today's quick log, offered right after a check-in: sleep, stress and the routine's products.

It changes only those three things of the day's log; everything else logged that day (water,
diet, a note...) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from skintrack.config import Settings
from skintrack.db import lifestyle, products, store

# One tap each on a phone: whole hours, and the stress scale of the Lifestyle page.
SLEEP_CHOICES = (5, 6, 7, 8, 9)
STRESS_CHOICES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class QuickLog:
    """What the quick log starts from: the day's values so far and the products to offer."""

    day: date
    sleep_hours: float | None
    stress: int | None
    offered: list[tuple[str, str]]  # the routine's (product, AM|PM) of the day, and any already logged
    used: list[tuple[str, str]]  # ticked at the start: the logged uses, else the whole routine


def start(settings: Settings, day: date) -> QuickLog:
    logged = store.get_day(settings, day)
    routine = products.active_on(settings, day)
    used = logged["products"] if logged else routine
    return QuickLog(
        day,
        (logged or {}).get("sleep_hours"),
        (logged or {}).get("stress"),
        sorted(set(routine) | set(used)),
        list(used),
    )


def save(
    settings: Settings, day: date, sleep_hours: float | None, stress: int | None, used: list[tuple[str, str]]
) -> None:
    """Set the day's sleep, stress and products, keeping the rest of its log."""
    day = lifestyle.parse_day(day)
    logged = store.get_day(settings, day) or {}
    values = {f: logged.get(f) for f in store.LIFESTYLE_FIELDS}
    values.update(sleep_hours=sleep_hours, stress=stress)
    store.log_day(settings, day, lifestyle.validate(values), lifestyle.validate_products(used))

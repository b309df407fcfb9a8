"""Products: the catalogue (name, brand, type, key ingredients, notes) and the routine.

The routine is a list of periods: a product used in the morning, the evening or both,
from a start date until a stop date (open while still in use). Stopping a product ends
its period. The day log's ``product_use`` rows say what was used on one day; the routine
says what the user meant to use, and gives the before/after analysis its start dates.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from skintrack.config import Settings
from skintrack.db import schema, store
from skintrack.db.lifestyle import MAX_NAME, MAX_NOTE, InvalidLog, parse_day
from skintrack.errors import BadValue

KINDS = (
    "cleanser",
    "toner",
    "serum",
    "moisturiser",
    "sunscreen",
    "treatment",
    "exfoliant",
    "retinoid",
    "mask",
    "medication",
    "supplement",
    "other",
)
ROUTINE_TIMES = ("AM", "PM", "AM+PM")


class ProductError(store.StoreError):
    """A product or routine change that cannot be made; the message says why."""


def clean_name(name: str) -> str:
    """A product name with its whitespace collapsed; empty and over-long names raise."""
    name = " ".join(str(name or "").split())
    if not name:
        raise InvalidLog("a product needs a name")
    if len(name) > MAX_NAME:
        raise InvalidLog(f"product name {name[:20]!r}... is longer than {MAX_NAME} characters")
    return name


def _text(value: str | None, what: str) -> str | None:
    value = (value or "").strip()
    if len(value) > MAX_NOTE:
        raise InvalidLog(f"the {what} is {len(value)} characters; at most {MAX_NOTE}")
    return value or None


def save_product(
    settings: Settings,
    name: str,
    brand: str | None = None,
    kind: str | None = None,
    ingredients: str | None = None,
    notes: str | None = None,
    product_id: int | None = None,
) -> int:
    """Add a product to the catalogue, or update product ``product_id``; returns its id."""
    name = clean_name(name)
    if kind and kind not in KINDS:
        raise InvalidLog(f"product type {kind!r} is not one of {', '.join(KINDS)}")
    row = [name, _text(brand, "brand"), kind or None, _text(ingredients, "ingredient list"), _text(notes, "note")]
    with schema.connect(settings) as con:
        clash = con.execute("SELECT id FROM products WHERE lower(name) = lower(?)", [name]).fetchone()
        if clash and clash[0] != product_id:
            raise ProductError(f"a product named {name!r} is already in the catalogue")
        if product_id is None:
            return con.execute(
                "INSERT INTO products (name, brand, kind, ingredients, notes) VALUES (?, ?, ?, ?, ?) RETURNING id", row
            ).fetchone()[0]
        updated = con.execute(
            "UPDATE products SET name = ?, brand = ?, kind = ?, ingredients = ?, notes = ? WHERE id = ? RETURNING id",
            [*row, product_id],
        ).fetchall()
        if not updated:
            raise store.NotFoundError(f"no product {product_id}")
        return product_id


def delete_product(settings: Settings, product_id: int) -> None:
    """Remove a product with its routine periods and its logged uses."""
    with schema.connect(settings) as con, schema.transaction(con):
        con.execute("DELETE FROM routine WHERE product_id = ?", [product_id])
        con.execute("DELETE FROM product_use WHERE product_id = ?", [product_id])
        con.execute("DELETE FROM products WHERE id = ?", [product_id])


def catalogue(settings: Settings) -> pd.DataFrame:
    """Every product, by name, with whether it is in the routine now and since when."""
    with schema.connect(settings) as con:
        return con.execute(
            "SELECT p.id, p.name, p.brand, p.kind, p.ingredients, p.notes,"
            " min(r.start_day) FILTER (WHERE r.stop_day IS NULL) AS in_use_since,"
            " (SELECT count(DISTINCT u.day) FROM product_use u WHERE u.product_id = p.id) AS days_logged"
            " FROM products p LEFT JOIN routine r ON r.product_id = p.id"
            " GROUP BY p.id, p.name, p.brand, p.kind, p.ingredients, p.notes ORDER BY lower(p.name)"
        ).df()


def start(settings: Settings, name: str, day: date | str, time_of_day: str = "AM+PM", today: date | None = None) -> int:
    """Start using a product (added to the catalogue if new) on ``day``; returns the period id."""
    name, day = clean_name(name), parse_day(day, today)
    if time_of_day not in ROUTINE_TIMES:
        raise InvalidLog(f"time of day {time_of_day!r} must be one of {', '.join(ROUTINE_TIMES)}")
    with schema.connect(settings) as con:
        product_id = store.product_id(con, name, create=True)
        overlap = con.execute(
            "SELECT start_day, stop_day FROM routine WHERE product_id = ?"
            " AND start_day <= ? AND (stop_day IS NULL OR stop_day >= ?)",
            [product_id, day, day],
        ).fetchone()
        if overlap:
            until = "now" if overlap[1] is None else overlap[1].isoformat()
            raise ProductError(f"{name} is already in the routine on {day} (from {overlap[0]} until {until})")
        later = con.execute(
            "SELECT min(start_day) FROM routine WHERE product_id = ? AND start_day > ?", [product_id, day]
        ).fetchone()[0]
        if later is not None:
            raise ProductError(f"{name} has a later period starting {later}; edit that one instead")
        return con.execute(
            "INSERT INTO routine (product_id, time_of_day, start_day) VALUES (?, ?, ?) RETURNING id",
            [product_id, time_of_day, day],
        ).fetchone()[0]


def stop(settings: Settings, name: str, day: date | str, today: date | None = None) -> None:
    """Stop a product on ``day`` (its last day of use), ending its open period."""
    name, day = clean_name(name), parse_day(day, today)
    with schema.connect(settings) as con:
        product_id = store.product_id(con, name, create=False)
        period = con.execute(
            "SELECT id, start_day FROM routine WHERE product_id = ? AND stop_day IS NULL", [product_id]
        ).fetchone()
        if period is None:
            raise ProductError(f"{name} is not in the routine now; nothing to stop")
        if day < period[1]:
            raise ProductError(f"cannot stop {name} on {day}: it started on {period[1]}")
        con.execute("UPDATE routine SET stop_day = ? WHERE id = ?", [day, period[0]])


def routine(settings: Settings) -> pd.DataFrame:
    """Every routine period: id, product, kind, time_of_day, start, stop (NaT while in use)."""
    with schema.connect(settings) as con:
        return read_routine(con)


def read_routine(con) -> pd.DataFrame:
    """``routine`` on an open connection (several reads on one connection save opening it)."""
    return _dated(
        con,
        "SELECT r.id, p.name AS product, p.kind, r.time_of_day, r.start_day AS start, r.stop_day AS stop"
        " FROM routine r JOIN products p ON p.id = r.product_id ORDER BY r.start_day, p.name",
        "start",
        "stop",
    )


def uses(settings: Settings) -> pd.DataFrame:
    """Logged product uses: day, product, time_of_day."""
    with schema.connect(settings) as con:
        return read_uses(con)


def read_uses(con) -> pd.DataFrame:
    """``uses`` on an open connection."""
    return _dated(
        con,
        "SELECT u.day, p.name AS product, u.time_of_day FROM product_use u"
        " JOIN products p ON p.id = u.product_id ORDER BY u.day, p.name",
        "day",
    )


def _dated(con, sql: str, *date_columns: str) -> pd.DataFrame:
    """The query's rows as a frame, with ``date_columns`` as pandas datetimes."""
    df = con.execute(sql).df()
    return df.assign(**{c: pd.to_datetime(df[c]) for c in date_columns})


def active_on(settings: Settings, day: date) -> list[tuple[str, str]]:
    """The routine's (product, AM|PM) uses on ``day``: the default for a day not yet logged."""
    periods = routine(settings)
    if periods.empty:
        return []
    when = pd.Timestamp(day)
    on = periods[(periods["start"] <= when) & (periods["stop"].isna() | (periods["stop"] >= when))]
    return sorted(
        (name, t) for name, times in zip(on["product"], on["time_of_day"], strict=True) for t in times.split("+")
    )


# ---------------------------------------------------------------- command line: python -m skintrack routine


def add_arguments(parser) -> None:
    parser.add_argument(
        "action", choices=("list", "start", "stop"), help="list the routine, or start or stop a product"
    )
    parser.add_argument("name", nargs="?", help="the product (start and stop)")
    parser.add_argument(
        "--on", default="today", help="the first (start) or last (stop) day: YYYY-MM-DD, today or yesterday"
    )
    parser.add_argument("--when", default="AM+PM", choices=ROUTINE_TIMES, help="time of day (start; default AM+PM)")


def run(args) -> int:
    settings = args.settings
    if args.action == "list":
        periods = routine(settings)
        if periods.empty:
            print("no products in the routine")
        for p in periods.itertuples(index=False):
            until = "now" if pd.isna(p.stop) else f"{p.stop:%Y-%m-%d}"
            print(f"{p.product} ({p.time_of_day}): {p.start:%Y-%m-%d} to {until}")
        return 0
    if not args.name:
        raise BadValue(f"routine {args.action} needs a product name")
    day = parse_day(args.on)
    if args.action == "start":
        start(settings, args.name, day, args.when)
        print(f"started {clean_name(args.name)} ({args.when}) on {day.isoformat()}")
    else:
        stop(settings, args.name, day)
        print(f"stopped {clean_name(args.name)} after {day.isoformat()}")
    return 0

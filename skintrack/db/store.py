"""DuckDB storage: migrations, entries, scores, the lifestyle log and products.

One DuckDB file and an ``images/`` folder under the data home. Connections are opened
for a unit of work and closed again (``connect``), so the app and the command line can
share a home: DuckDB lets one process at a time hold the file, and a short hold plus a
retry is what makes "check in from the terminal while the app is open" work.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from skintrack.config import Settings
from skintrack.db.dbcopy import before_migration
from skintrack.errors import StoreError
from skintrack.files import write_atomic

LOCK_WAIT_S = 10.0

MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial schema",
        """
        CREATE SEQUENCE entry_id_seq START 1;
        CREATE TABLE entries (
            id BIGINT PRIMARY KEY DEFAULT nextval('entry_id_seq'),
            taken_at TIMESTAMP NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            image_sha256 VARCHAR NOT NULL UNIQUE,
            image_path VARCHAR NOT NULL,
            aligned_path VARCHAR NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            quality VARCHAR NOT NULL,
            alignment_rms DOUBLE,
            yaw DOUBLE,
            pitch DOUBLE,
            roll DOUBLE
        );
        CREATE TABLE scores (
            entry_id BIGINT NOT NULL,
            source VARCHAR NOT NULL,
            condition VARCHAR NOT NULL,
            region VARCHAR NOT NULL,
            value DOUBLE NOT NULL,
            PRIMARY KEY (entry_id, source, condition, region)
        );
        CREATE TABLE lifestyle (
            day DATE PRIMARY KEY,
            sleep_hours DOUBLE,
            sleep_quality INTEGER,
            water_l DOUBLE,
            stress INTEGER,
            exercise_min INTEGER,
            diet VARCHAR[],
            alcohol_units DOUBLE,
            cycle_day INTEGER,
            sun_min INTEGER,
            note VARCHAR,
            updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE product_id_seq START 1;
        CREATE TABLE products (
            id BIGINT PRIMARY KEY DEFAULT nextval('product_id_seq'),
            name VARCHAR NOT NULL UNIQUE,
            brand VARCHAR,
            kind VARCHAR,
            ingredients VARCHAR,
            notes VARCHAR,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE product_use (
            day DATE NOT NULL,
            product_id BIGINT NOT NULL,
            time_of_day VARCHAR NOT NULL,
            PRIMARY KEY (day, product_id, time_of_day)
        );
        """,
    ),
    (
        "product routine: periods of use with start and stop dates",
        """
        CREATE SEQUENCE routine_id_seq START 1;
        CREATE TABLE routine (
            id BIGINT PRIMARY KEY DEFAULT nextval('routine_id_seq'),
            product_id BIGINT NOT NULL,
            time_of_day VARCHAR NOT NULL,
            start_day DATE NOT NULL,
            stop_day DATE,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        """,
    ),
    (
        "products: merge names that differ only in case, keeping their history",
        # Each group of names equal but for case becomes its oldest product (the lowest id),
        # which takes any brand, type, ingredients or notes only a duplicate had; the
        # duplicates' logged uses and routine periods move to it (a use it already has on
        # that day and time is kept once). Then lower(name) is unique.
        """
        CREATE TEMPORARY TABLE product_merge AS
            SELECT id, min(id) OVER (PARTITION BY lower(name)) AS keep FROM products;
        UPDATE products SET
            brand = coalesce(products.brand, g.brand), kind = coalesce(products.kind, g.kind),
            ingredients = coalesce(products.ingredients, g.ingredients), notes = coalesce(products.notes, g.notes)
            FROM (SELECT m.keep, min(p.brand) AS brand, min(p.kind) AS kind, min(p.ingredients) AS ingredients,
                         min(p.notes) AS notes
                  FROM product_merge m JOIN products p ON p.id = m.id WHERE m.id <> m.keep GROUP BY m.keep) g
            WHERE products.id = g.keep;
        INSERT OR IGNORE INTO product_use
            SELECT DISTINCT u.day, m.keep, u.time_of_day FROM product_use u
            JOIN product_merge m ON m.id = u.product_id WHERE m.id <> m.keep;
        DELETE FROM product_use WHERE product_id IN (SELECT id FROM product_merge WHERE id <> keep);
        UPDATE routine SET product_id = m.keep FROM product_merge m
            WHERE routine.product_id = m.id AND m.id <> m.keep;
        DELETE FROM products WHERE id IN (SELECT id FROM product_merge WHERE id <> keep);
        DROP TABLE product_merge;
        """,
    ),
    (
        "products: names unique without regard to case",
        # Its own transaction: DuckDB builds an index over the rows deleted earlier in the same one.
        "CREATE UNIQUE INDEX products_lower_name ON products (lower(name));",
    ),
    (
        "withheld: the measurements a photo could not support, and why (never stored as numbers)",
        """
        CREATE TABLE withheld (
            entry_id BIGINT NOT NULL,
            condition VARCHAR NOT NULL,
            region VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            PRIMARY KEY (entry_id, condition, region)
        );
        """,
    ),
    (
        "LAN mode: paired devices and one-time pairing codes (hashes only)",
        """
        CREATE SEQUENCE device_id_seq START 1;
        CREATE TABLE devices (
            id BIGINT PRIMARY KEY DEFAULT nextval('device_id_seq'),
            name VARCHAR NOT NULL,
            token_sha256 VARCHAR NOT NULL UNIQUE,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            last_seen TIMESTAMP,
            last_address VARCHAR,
            revoked_at TIMESTAMP
        );
        CREATE TABLE pairing_codes (
            code_sha256 VARCHAR PRIMARY KEY,
            created_at TIMESTAMP NOT NULL,
            expires_at TIMESTAMP NOT NULL,
            used_at TIMESTAMP
        );
        """,
    ),
]


class DatabaseBusy(StoreError):
    """Another process holds the database file for longer than we are willing to wait."""


class DuplicatePhoto(StoreError):
    """This exact photo is already stored."""


class NotFoundError(StoreError):
    """Record not found."""


@dataclass(frozen=True)
class NewEntry:
    """What a check-in stores: the entry row, its images and its scores."""

    taken_at: datetime
    image_sha256: str
    original_jpeg: bytes
    aligned_jpeg: bytes
    width: int
    height: int
    quality: dict
    alignment_rms: float
    yaw: float
    pitch: float
    roll: float
    scores: list[tuple[str, str, str, float]]  # (source, condition, region, value)
    withheld: list[tuple[str, str, str]] = field(default_factory=list)  # (condition, region, reason)


def _open(path: Path) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreError(f"cannot open the database {path}: {exc}") from None
            if time.monotonic() > deadline:
                raise DatabaseBusy(
                    f"the database {path} is in use by another program for over "
                    f"{LOCK_WAIT_S:.0f} s; close it or try again"
                ) from None
            time.sleep(0.05)


_ONE_AT_A_TIME = threading.RLock()


@contextlib.contextmanager
def connect(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated connection to the home's database, closed when the block ends.

    Always read-write: DuckDB refuses a read-only and a read-write connection to one
    file inside one process, and the app's sessions are threads of one process.
    """
    # The app's sessions are threads sharing one DuckDB instance, where two check-ins or two
    # first-time migrations at once conflict; across processes the file lock serialises.
    with _ONE_AT_A_TIME:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        con = _open(settings.db_path)
        try:
            migrate(con, backups_dir=settings.backups_dir)
            yield con
        finally:
            con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT; on any exception (an interrupt included) ROLLBACK and re-raise."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection, backups_dir: Path | None = None, target: int | None = None) -> list[int]:
    """Apply pending migrations (up to ``target``), each with its record in one transaction;
    return the applied. With ``backups_dir``, a database that has data is copied there first."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    # The table exists now: no need for schema_version's information_schema look-up, which
    # took 6 of the 38 ms of storing a check-in (every store call opens a connection).
    current = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    last = len(MIGRATIONS) if target is None else target
    if backups_dir is not None and 0 < current < last:
        before_migration(con, backups_dir, current)
    applied = []
    for version, (name, sql) in enumerate(MIGRATIONS, start=1):
        if version <= current or version > last:
            continue
        with transaction(con):
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, datetime.now()])
        applied.append(version)
    return applied


# ---------------------------------------------------------------- images on disk


def image_paths(sha: str) -> tuple[str, str]:
    """Paths, relative to the images folder, of a photo and its aligned face."""
    return f"{sha[:2]}/{sha}.jpg", f"{sha[:2]}/{sha}.aligned.jpg"


def read_image(settings: Settings, rel_path: str) -> bytes:
    return (settings.images_dir / rel_path).read_bytes()


# ---------------------------------------------------------------- entries and scores


def add_entry(settings: Settings, entry: NewEntry) -> int:
    """Store one check-in atomically: both images and every row, or nothing at all."""
    return add_entries(settings, [entry])[0]


def add_entries(settings: Settings, new: list[NewEntry]) -> list[int]:
    """Store check-ins in one transaction (one, or many for the demo and imports); all or nothing.

    Refuses a photo already stored before writing anything: the files of a duplicate have the
    same names as the stored ones, and cleaning up after a failed insert would delete those.
    """
    written: list[Path] = []
    ids: list[int] = []
    with connect(settings) as con:
        for item in new:
            found = con.execute("SELECT id FROM entries WHERE image_sha256 = ?", [item.image_sha256]).fetchone()
            if found:
                raise DuplicatePhoto(f"this photo is already stored as entry {found[0]}")
        try:
            for item in new:
                for rel, data in zip(
                    image_paths(item.image_sha256), (item.original_jpeg, item.aligned_jpeg), strict=True
                ):
                    path = settings.images_dir / rel
                    write_atomic(path, data)
                    written.append(path)  # kill point: photo-written
            con.execute("BEGIN TRANSACTION")  # kill point: photos-written
            for item in new:
                original_rel, aligned_rel = image_paths(item.image_sha256)
                entry_id = con.execute(
                    "INSERT INTO entries (taken_at, image_sha256, image_path, aligned_path, width,"
                    " height, quality, alignment_rms, yaw, pitch, roll)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [
                        item.taken_at,
                        item.image_sha256,
                        original_rel,
                        aligned_rel,
                        item.width,
                        item.height,
                        json.dumps(item.quality),
                        item.alignment_rms,
                        item.yaw,
                        item.pitch,
                        item.roll,
                    ],
                ).fetchone()[0]
                rows = [(entry_id, s, c, r, float(v)) for s, c, r, v in item.scores]
                _insert_scores(con, rows)  # kill point: entry-inserted
                if item.withheld:
                    con.executemany("INSERT INTO withheld VALUES (?, ?, ?, ?)", [(entry_id, *w) for w in item.withheld])
                ids.append(entry_id)
            con.execute("COMMIT")  # kill point: before-commit
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            for path in written:
                path.unlink(missing_ok=True)
            raise
    return ids  # kill point: after-commit


def add_scores(settings: Settings, rows: list[tuple[int, str, str, str, float]]) -> None:
    """Insert or replace (entry_id, source, condition, region, value) rows in one transaction."""
    with connect(settings) as con, transaction(con):
        con.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?)", rows)


def entries(settings: Settings) -> pd.DataFrame:
    """Every entry, oldest first."""
    with connect(settings) as con:
        return con.execute("SELECT * FROM entries ORDER BY taken_at, id").df()


def entry(settings: Settings, entry_id: int) -> dict:
    with connect(settings) as con:
        df = con.execute("SELECT * FROM entries WHERE id = ?", [entry_id]).df()
    if df.empty:
        raise NotFoundError(f"no entry {entry_id}")
    return df.iloc[0].to_dict()


def scores(settings: Settings) -> pd.DataFrame:
    """Scores long, with each entry's time: taken_at, entry_id, source, condition, region, value."""
    with connect(settings) as con:
        return con.execute(
            "SELECT e.taken_at, s.entry_id, s.source, s.condition, s.region, s.value"
            " FROM scores s JOIN entries e ON e.id = s.entry_id ORDER BY e.taken_at, s.entry_id, s.rowid"
        ).df()  # rowid: within an entry, the order its scores were stored (a rescore comes last)


def known_hashes(settings: Settings) -> set[str]:
    with connect(settings) as con:
        return {row[0] for row in con.execute("SELECT image_sha256 FROM entries").fetchall()}


def remove_orphan_files(settings: Settings) -> list[Path]:
    """Delete image files no entry refers to (left by a check-in killed half-way)."""
    if not settings.images_dir.exists():
        return []
    with connect(settings) as con:
        rows = con.execute("SELECT image_path, aligned_path FROM entries").fetchall()
    keep = {p for row in rows for p in row}
    removed = []
    for path in settings.images_dir.rglob("*"):
        if path.is_file() and path.relative_to(settings.images_dir).as_posix() not in keep:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# ---------------------------------------------------------------- lifestyle log

LIFESTYLE_FIELDS = (
    "sleep_hours",
    "sleep_quality",
    "water_l",
    "stress",
    "exercise_min",
    "diet",
    "alcohol_units",
    "cycle_day",
    "sun_min",
    "note",
)


def log_day(settings: Settings, day: date, values: dict, products: list[tuple[str, str]] = ()) -> None:
    """Insert or replace the log of ``day``; ``products`` is [(name, "AM"|"PM")], created if new."""
    log_days(settings, [(day, values, list(products))])


def product_id(con: duckdb.DuckDBPyConnection, name: str, create: bool = True) -> int:
    """The id of the product named ``name`` without regard to case, added to the catalogue if new
    (``create``) or else ``NotFoundError``. The one look-up of a product by name."""
    found = con.execute("SELECT id FROM products WHERE lower(name) = lower(?)", [name]).fetchone()
    if found:
        return found[0]
    if not create:
        raise NotFoundError(f"no product named {name!r} in the catalogue")
    return con.execute("INSERT INTO products (name) VALUES (?) RETURNING id", [name]).fetchone()[0]


def get_day(settings: Settings, day: date) -> dict | None:
    """The log of ``day`` with its products as [(name, time_of_day)], or None if not logged."""
    with connect(settings) as con:
        df = con.execute("SELECT * FROM lifestyle WHERE day = ?", [day]).df()
        if df.empty:
            return None
        used = con.execute(
            "SELECT p.name, u.time_of_day FROM product_use u JOIN products p ON p.id = u.product_id"
            " WHERE u.day = ? ORDER BY p.name, u.time_of_day",
            [day],
        ).fetchall()
    row = df.iloc[0].to_dict()
    row["diet"] = list(row["diet"]) if row.get("diet") is not None else []
    row["products"] = [tuple(u) for u in used]
    return {k: (None if _isna(v) else v) for k, v in row.items()}


def _isna(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def lifestyle(settings: Settings) -> pd.DataFrame:
    """One row per logged day, oldest first."""
    with connect(settings) as con:
        return read_lifestyle(con)


def read_lifestyle(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``lifestyle`` on an open connection (several reads on one connection save opening it)."""
    return con.execute("SELECT * FROM lifestyle ORDER BY day").df()


def product_names(settings: Settings) -> list[str]:
    with connect(settings) as con:
        return [r[0] for r in con.execute("SELECT name FROM products ORDER BY name").fetchall()]


def delete_day(settings: Settings, day: date) -> bool:
    """Delete the log of ``day`` and its product uses; False when nothing was logged."""
    with connect(settings) as con, transaction(con):
        found = con.execute("SELECT count(*) FROM lifestyle WHERE day = ?", [day]).fetchone()[0]
        con.execute("DELETE FROM lifestyle WHERE day = ?", [day])
        con.execute("DELETE FROM product_use WHERE day = ?", [day])
    return bool(found)


def log_days(settings: Settings, days: list[tuple[date, dict, list[tuple[str, str]]]]) -> None:
    """``log_day`` for many (day, values, products) in one transaction (the demo); all or nothing."""
    for _, values, _ in days:
        unknown = set(values) - set(LIFESTYLE_FIELDS)
        if unknown:
            raise StoreError(f"unknown lifestyle fields {sorted(unknown)}; allowed: {LIFESTYLE_FIELDS}")
    with connect(settings) as con, transaction(con):
        for day, values, products in days:
            con.execute("DELETE FROM lifestyle WHERE day = ?", [day])
            con.execute(
                "INSERT INTO lifestyle (day, sleep_hours, sleep_quality, water_l, stress, exercise_min, diet,"
                " alcohol_units, cycle_day, sun_min, note, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [day, *[values.get(f) for f in LIFESTYLE_FIELDS], datetime.now()],
            )
            con.execute("DELETE FROM product_use WHERE day = ?", [day])
            for name, time_of_day in products:
                con.execute(
                    "INSERT OR IGNORE INTO product_use VALUES (?, ?, ?)", [day, product_id(con, name), time_of_day]
                )


# ---------------------------------------------------------------- Trends queries (aggregated in DuckDB)


def score_catalogue(settings: Settings) -> pd.DataFrame:
    """Each stored (condition, region) with its number of entries, without loading the scores."""
    with connect(settings) as con:
        return read_score_catalogue(con)


def read_score_catalogue(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``score_catalogue`` on an open connection."""
    return con.execute(
        "SELECT condition, region, count(DISTINCT entry_id) AS n FROM scores"
        " GROUP BY condition, region ORDER BY condition, region"
    ).df()


def read_measurements(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each stored (condition, region) pair, sorted: what a chart can show (a fifth of the time
    of ``score_catalogue``, which counts the entries of each)."""
    return con.execute("SELECT DISTINCT condition, region FROM scores ORDER BY condition, region").df()


def daily_scores(settings: Settings, condition: str, region: str) -> pd.DataFrame:
    """One measurement by day from its latest source, the day's check-ins averaged in DuckDB:
    day (midnight Timestamp), value, n. What ``analytics.daily_series`` computes from the
    whole scores table, read as a few thousand rows instead of hundreds of thousands."""
    with connect(settings) as con:
        return read_daily_scores(con, condition, region)


# Each condition's newest source: of the latest entry, the most recently stored (a rescore adds
# a new model's scores to old entries, and the newer model wins). The one statement of the rule,
# LATEST, as the CTE ``latest`` (condition, source) over ``ordered`` (condition, source, taken_at,
# entry_id, seq: the order of storing); ``ordered`` is the stored scores (of every condition, or
# of the one given as a ?: twice as fast) or, for ``analytics.latest_sources``, a scores frame.
LATEST = (
    "latest AS (SELECT condition, arg_max(source, (taken_at, entry_id, seq)) AS source FROM ordered GROUP BY condition)"
)
_ORDERED = (
    "ordered AS (SELECT s.condition, s.source, e.taken_at, s.entry_id, s.rowid AS seq"
    " FROM scores s JOIN entries e ON e.id = s.entry_id"
)
LATEST_SOURCES = "WITH " + _ORDERED + "), " + LATEST
LATEST_SOURCE_OF_ONE = "WITH " + _ORDERED + " WHERE s.condition = ?), " + LATEST
# The rule over a frame registered as ``ordered``.
LATEST_OF_ORDERED = "WITH " + LATEST + " SELECT condition, source FROM latest ORDER BY condition"
_DAILY_SCORES = LATEST_SOURCE_OF_ONE + (
    " SELECT date_trunc('day', e.taken_at) AS day, avg(s.value) AS value, count(*) AS n"
    " FROM scores s JOIN entries e ON e.id = s.entry_id"
    " JOIN latest l ON l.condition = s.condition AND l.source = s.source"
    " WHERE s.condition = ? AND s.region = ?"
    " GROUP BY 1 ORDER BY 1"
)
_DAILY_VALUES = LATEST_SOURCES + (
    " SELECT date_trunc('day', e.taken_at) AS day, s.condition, s.region, avg(s.value) AS value, count(*) AS n"
    " FROM scores s JOIN entries e ON e.id = s.entry_id"
    " JOIN latest l ON l.condition = s.condition AND l.source = s.source"
    " WHERE ?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], s.region)"
    " GROUP BY ALL ORDER BY s.condition, s.region, day"
)


def read_daily_scores(con: duckdb.DuckDBPyConnection, condition: str, region: str) -> pd.DataFrame:
    """``daily_scores`` on an open connection."""
    return con.execute(_DAILY_SCORES, [condition, condition, region]).df()


def read_daily_values(con: duckdb.DuckDBPyConnection, regions: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One value per day, condition and region from each condition's latest source, averaged
    in DuckDB (``regions=None``: every region): day, condition, region, value, n, ordered by
    condition, region and day, as ``analytics.daily_values`` computes from the scores table."""
    wanted = None if regions is None else list(regions)
    return con.execute(_DAILY_VALUES, [wanted, wanted]).df()


INSERT_SCORES = (
    "INSERT INTO scores SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]),"
    " unnest(?::VARCHAR[]), unnest(?::DOUBLE[])"
)


def _insert_scores(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, str, str, str, float]]) -> None:
    """Insert (entry_id, source, condition, region, value) rows in one statement: DuckDB's
    ``executemany`` runs one statement per row, 265 ms for a check-in's 71 rows against 4 ms."""
    if rows:
        con.execute(INSERT_SCORES, [list(column) for column in zip(*rows, strict=True)])

"""The database file's schema and the way in: numbered migrations, and ``connect``.

Every connection is migrated as it opens, so the schema and the connection are one concern.
Connections are opened for a unit of work and closed again (``connect``), so the app and the
command line can share a home: DuckDB lets one process at a time hold the file, and a short
hold plus a retry is what makes "check in from the terminal while the app is open" work.
Each migration runs in its own transaction with its record; an applied one is never edited.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb

from skintrack.config import Settings
from skintrack.db.dbcopy import before_migration
from skintrack.errors import StoreError

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

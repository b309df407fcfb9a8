"""Rebuilding the database file from its rows: a new file built beside the current one at a
schema version, the sequences moved past the ids in use, then swapped in with one rename.

``compact`` (after a delete) and ``clear`` rebuild the current data; ``restore`` builds an
archive's. A rebuild killed before the swap leaves the old file and a staged one under
``images/.staging``, which start-up clean-up (``store.remove_orphan_files``) removes.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from skintrack.config import Settings
from skintrack.db import schema
from skintrack.db.archive import ArchiveError, _columns, _quoted, _sequences, _snapshot, _tables


def _advance_sequences(con: duckdb.DuckDBPyConnection, wanted: dict[str, int]) -> None:
    """Move each sequence past the ids in use and past its last value in the archive."""
    defaults = con.execute(
        "SELECT table_name, column_name, column_default FROM duckdb_columns()"
        " WHERE database_name = current_database() AND column_default LIKE 'nextval(%'"
    ).fetchall()
    top: dict[str, int] = {}
    for table, column, default in defaults:
        match = re.fullmatch(r"nextval\('([a-z_][a-z0-9_]*)'\)", default)
        if match:
            used = con.execute(f"SELECT coalesce(max({_quoted(column)}), 0) FROM {_quoted(table)}").fetchone()[0]
            top[match[1]] = max(top.get(match[1], 0), int(used))
    for name, last in _sequences(con).items():
        target = max(top.get(name, 0), int(wanted.get(name, 0) or 0))
        if target > last:
            con.execute("SELECT max(nextval(?)) FROM range(?)", [name, target - last])


def _build(path: Path, version: int, tables: dict[str, pa.Table], sequences: dict[str, int]) -> None:
    """A new database at ``path``: schema ``version``, these rows, then migrated to the newest schema."""
    con = duckdb.connect(str(path))
    try:
        schema.migrate(con, target=version)
        expected = set(_tables(con))
        if set(tables) != expected:
            odd = sorted(set(tables) ^ expected)
            raise ArchiveError(
                f"the archive's tables do not match schema version {version}: {', '.join(odd)} "
                f"{'missing' if set(odd) <= expected else 'unexpected'}"
            )
        for name, table in tables.items():
            columns = _columns(con, name)
            if sorted(table.column_names) != sorted(columns):
                raise ArchiveError(
                    f"table {name} has columns {table.column_names}; schema version {version} has {columns}"
                )
            con.register("incoming", table)
            try:
                con.execute(f"INSERT INTO {_quoted(name)} BY NAME SELECT * FROM incoming")
            finally:
                con.unregister("incoming")
        _advance_sequences(con, sequences)
        schema.migrate(con)  # the rest of the way to this skintrack's schema
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        raise ArchiveError(f"the archive's rows cannot be loaded: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()


def _staged_path(settings: Settings, what: str) -> Path:
    # Under images/ so that start-up clean-up removes what a killed restore leaves behind.
    folder = settings.images_dir / ".staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{what}-{os.getpid()}-{datetime.now():%Y%m%dT%H%M%S%f}.duckdb"


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    Path(f"{path}.wal").unlink(missing_ok=True)


def _swap_in(con: duckdb.DuckDBPyConnection, staged: Path, settings: Settings) -> None:
    """Replace the database file with ``staged`` while ``con`` holds it (so no one writes in between)."""
    con.execute("CHECKPOINT")  # empties the WAL, which belongs to the file being replaced
    os.replace(staged, settings.db_path)  # kill point: before-swap


def compact(settings: Settings) -> None:
    """Rewrite the database file from its rows, so deleted rows leave nothing in freed blocks."""
    staged = _staged_path(settings, "compact")
    try:
        with schema.connect(settings) as con:
            version, tables, sequences = _snapshot(con)
            _build(staged, version, tables, sequences)
            _swap_in(con, staged, settings)
    finally:
        _discard(staged)


def clear(settings: Settings) -> None:
    """Replace the database with an empty one at the newest schema (rows, sequences, freed blocks: all gone)."""
    staged = _staged_path(settings, "clear")
    try:
        con = duckdb.connect(str(staged))
        try:
            schema.migrate(con)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        with schema.connect(settings) as live:
            _swap_in(live, staged, settings)
    finally:
        _discard(staged)

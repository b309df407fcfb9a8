"""The export archive: its format, and export of every table and photo to one zip.

Layout of an archive::

    manifest.json            format, schema version, row counts, sequences, sha256 and size of every file
    tables/<table>.parquet   the rows with their types; what a restore reads
    tables/<table>.csv       the same rows for a spreadsheet (lists as JSON)
    images/<aa>/<sha>.jpg    every stored photo and its aligned face (no metadata)

Also the reading of the catalog that export, ``rebuild`` and ``restore`` share (tables,
columns, sequences, one snapshot of them all). ``restore`` reads an archive back, checked
completely first, all or nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from skintrack.config import Settings
from skintrack.db import devices, schema, store
from skintrack.files import write_atomic

FORMAT = "skintrack-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 2**20
IMAGE_PATH = re.compile(r"[0-9a-f]{2}/[0-9a-f]{64}(\.aligned)?\.jpg")
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SHA256 = re.compile(r"[0-9a-f]{64}")
IMAGE_COLUMNS = ("image_path", "aligned_path")

Source = str | os.PathLike | BinaryIO | bytes


class ArchiveError(store.StoreError):
    """The archive cannot be restored; the message says why. The current data is untouched."""


@dataclass(frozen=True)
class ArchiveInfo:
    """What an archive holds: its schema version, rows per table and number of photos."""

    schema_version: int
    created: str
    rows: dict[str, int] = field(default_factory=dict)
    images: int = 0
    size: int = 0  # bytes of the files inside, uncompressed

    @property
    def entries(self) -> int:
        return self.rows.get("entries", 0)


# ---------------------------------------------------------------- tables


def _quoted(name: str) -> str:
    # Identifiers cannot be ? parameters; every name here comes from the catalog (or an
    # archive's manifest) and must match IDENTIFIER, so quoting it is enough.
    if not IDENTIFIER.fullmatch(name):
        raise ArchiveError(f"{name!r} is not a valid table or column name")
    return f'"{name}"'


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        " AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
    ).fetchall()
    return [r[0] for r in rows if r[0] != "schema_migrations"]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database()"
        " AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _sequences(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute(
        "SELECT sequence_name, last_value FROM duckdb_sequences() WHERE database_name = current_database()"
    ).fetchall()
    return {name: int(last or 0) for name, last in rows}


def _snapshot(con: duckdb.DuckDBPyConnection) -> tuple[int, dict[str, pa.Table], dict[str, int]]:
    """Schema version, every table as Arrow and every sequence's last value, from one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        version = schema.schema_version(con)
        tables = {name: con.sql(f"SELECT * FROM {_quoted(name)}").to_arrow_table() for name in _tables(con)}
        return version, tables, _sequences(con)
    finally:
        con.execute("ROLLBACK")


def _without_credentials(tables: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """``tables`` with the paired devices and pairing codes emptied. An export is a copy of the
    data that may travel (another computer, a dermatologist); a device token is a key to this
    computer's LAN server, so it does not travel, and an archive cannot plant one on restore."""
    return {name: table.slice(0, 0) if name in devices.TABLES else table for name, table in tables.items()}


# ---------------------------------------------------------------- export


def _csv(table: pa.Table) -> bytes:
    df = table.to_pandas()
    for column in df.columns:
        if df[column].dtype == object:
            df[column] = df[column].map(
                lambda v: (
                    json.dumps(list(v)) if v is not None and not isinstance(v, str) and hasattr(v, "__len__") else v
                )
            )
    return df.to_csv(index=False).encode("utf-8")


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def export(settings: Settings, dest: str | os.PathLike | BinaryIO) -> ArchiveInfo:
    """Write every table (Parquet and CSV), every photo and a manifest to the zip ``dest``."""
    with schema.connect(settings) as con:
        version, tables, sequences = _snapshot(con)
    tables = _without_credentials(tables)
    # Photos are content-addressed and never rewritten, so they are read after the lock is released.
    rels = (
        sorted({p for c in IMAGE_COLUMNS for p in tables["entries"].column(c).to_pylist()})
        if "entries" in tables
        else []
    )
    manifest: dict = {}

    def write(target: Path | BinaryIO) -> None:
        manifest.update(_write_zip(settings, target, version, tables, sequences, rels))

    if isinstance(dest, str | os.PathLike):
        write_atomic(Path(dest), write)
    else:
        write(dest)
    files = manifest["files"]
    return ArchiveInfo(
        version,
        manifest["created"],
        {n: t.num_rows for n, t in tables.items()},
        len(rels),
        sum(f["size"] for f in files.values()),
    )


def _write_zip(
    settings: Settings,
    target: Path | BinaryIO,
    version: int,
    tables: dict[str, pa.Table],
    sequences: dict[str, int],
    rels: list[str],
) -> dict:
    """Write the archive of these tables and photos to ``target``; return its manifest."""
    files: dict[str, dict] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:

        def add(name: str, data: bytes, compress: int) -> None:
            zf.writestr(name, data, compress_type=compress)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

        for name, table in tables.items():
            add(f"tables/{name}.parquet", _parquet(table), zipfile.ZIP_DEFLATED)
            add(f"tables/{name}.csv", _csv(table), zipfile.ZIP_DEFLATED)
        for rel in rels:
            try:
                data = store.read_image(settings, rel)
            except FileNotFoundError:
                raise store.StoreError(
                    f"the photo {rel} is missing from {settings.images_dir}; "
                    "was it deleted during the export? Try again"
                ) from None
            add(f"images/{rel}", data, zipfile.ZIP_STORED)  # JPEGs do not compress
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "schema_version": version,
            "created": datetime.now().isoformat(timespec="seconds"),
            "tables": {name: {"rows": table.num_rows} for name, table in tables.items()},
            "sequences": sequences,
            "files": files,
        }
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
    return manifest


def export_bytes(settings: Settings) -> bytes:
    """The export as bytes (for a download button)."""
    buf = io.BytesIO()
    export(settings, buf)
    return buf.getvalue()

"""Export every table and photo to one zip; restore one, validated first, all or nothing.

Layout of an archive::

    manifest.json            format, schema version, row counts, sequences, sha256 and size of every file
    tables/<table>.parquet   the rows with their types; what a restore reads
    tables/<table>.csv       the same rows for a spreadsheet (lists as JSON)
    images/<aa>/<sha>.jpg    every stored photo and its aligned face (no metadata)

A restore checks everything before it touches anything: that the zip is whole, that every
name is a safe relative path, that the manifest is ours and its schema version is one this
skintrack knows, that each file's size and checksum match, that the tables load into a fresh
database of that version and that every photo an entry names is there. It then builds the new
database beside the current one, saves the current data as a ``before-restore`` archive in the
backups folder, adds the photos, and swaps the database file in with one rename (the moment
the restore happens). Photos of the old data are removed after the swap; a restore killed
before the swap leaves the old data and some unreferenced photos, which start-up clean-up
(``store.remove_orphan_files``) removes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from skintrack.config import Settings
from skintrack.db import dbcopy, devices, schema, store
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


# ---------------------------------------------------------------- validation


def _open_zip(source: Source) -> zipfile.ZipFile:
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        return zipfile.ZipFile(source)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise ArchiveError(f"this is not a zip archive, or it is truncated ({exc})") from None


def _check_name(name: str) -> None:
    parts = name.split("/")
    unsafe = (
        not name
        or "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or ":" in parts[0]
        or any(p in ("", ".", "..") for p in parts[:-1] + ([parts[-1]] if not name.endswith("/") else []))
    )
    if unsafe:
        raise ArchiveError(f"the archive holds an unsafe path {name!r}; refusing to restore it")
    if name != MANIFEST and parts[0] not in ("tables", "images"):
        raise ArchiveError(f"the archive holds {name!r}, which is not part of a skintrack export")


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        raise ArchiveError(f"{name} in the archive is damaged ({exc})") from None


def _digest(zf: zipfile.ZipFile, name: str) -> str:
    h = hashlib.sha256()
    try:
        with zf.open(name) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        raise ArchiveError(f"{name} in the archive is damaged ({exc})") from None
    return h.hexdigest()


def _manifest(zf: zipfile.ZipFile, names: set[str]) -> dict:
    if MANIFEST not in names:
        raise ArchiveError("this is not a skintrack export: it has no manifest.json")
    if zf.getinfo(MANIFEST).file_size > MAX_MANIFEST_BYTES:
        raise ArchiveError("manifest.json is implausibly large; this is not a skintrack export")
    try:
        manifest = json.loads(_read(zf, MANIFEST))
    except (ValueError, UnicodeDecodeError):
        raise ArchiveError("manifest.json is not valid JSON; the archive is damaged") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(
            f"this is not a skintrack export (its manifest's format is "
            f"{manifest.get('format') if isinstance(manifest, dict) else None!r})"
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"archive format version {manifest.get('format_version')!r}; this skintrack reads version {FORMAT_VERSION}"
        )
    version = manifest.get("schema_version")
    if type(version) is not int or version < 1:
        raise ArchiveError(f"the manifest's schema version {version!r} is not a positive whole number")
    if version > len(schema.MIGRATIONS):
        raise ArchiveError(
            f"the archive has schema version {version}, newer than this skintrack's "
            f"{len(schema.MIGRATIONS)}; update skintrack, then restore"
        )
    files, tables = manifest.get("files"), manifest.get("tables")
    if not isinstance(files, dict) or not isinstance(tables, dict):
        raise ArchiveError("the manifest lists no files or no tables; the archive is damaged")
    for name, meta in files.items():
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("sha256"), str)
            or not SHA256.fullmatch(meta["sha256"])
            or type(meta.get("size")) is not int
            or meta["size"] < 0
        ):
            raise ArchiveError(f"the manifest entry for {name!r} is malformed")
    for name, meta in tables.items():
        _quoted(name)
        if not isinstance(meta, dict) or type(meta.get("rows")) is not int:
            raise ArchiveError(f"the manifest entry for table {name!r} is malformed")
    sequences = manifest.get("sequences", {})
    if not isinstance(sequences, dict) or any(type(v) is not int for v in sequences.values()):
        raise ArchiveError("the manifest's sequences are malformed")
    return manifest


def _validated(zf: zipfile.ZipFile, settings: Settings) -> tuple[dict, dict[str, pa.Table]]:
    """The manifest and the tables of a fully checked archive, or ``ArchiveError``."""
    names: set[str] = set()
    for info in zf.infolist():
        _check_name(info.filename)
        if info.filename in names:
            raise ArchiveError(f"the archive holds {info.filename!r} twice")
        if not info.is_dir():
            names.add(info.filename)
    manifest = _manifest(zf, names)
    files: dict[str, dict] = manifest["files"]
    present = names - {MANIFEST}
    if missing := sorted(set(files) - present):
        raise ArchiveError(
            f"the archive is missing {missing[0]}" + (f" and {len(missing) - 1} more files" if len(missing) > 1 else "")
        )
    if extra := sorted(present - set(files)):
        raise ArchiveError(f"{extra[0]} is in the archive but not in its manifest")
    for name in files:
        _check_name(name)
        folder, _, rest = name.partition("/")
        if folder == "images" and not IMAGE_PATH.fullmatch(rest):
            raise ArchiveError(f"{name!r} is not a stored-photo path (aa/<sha256>[.aligned].jpg)")
        if folder == "tables" and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}\.(parquet|csv)", rest):
            raise ArchiveError(f"{name!r} is not a table file (tables/<name>.parquet or .csv)")
    total = sum(m["size"] for m in files.values())
    free = shutil.disk_usage(next(p for p in (settings.home, *settings.home.parents) if p.exists())).free
    if total * 2 > free:  # the photos, plus the before-restore copy of the current data
        raise ArchiveError(f"restoring needs about {total * 2 / 2**20:.0f} MB of disk; {free / 2**20:.0f} MB are free")
    for name in sorted(files):
        if zf.getinfo(name).file_size != files[name]["size"]:
            raise ArchiveError(
                f"{name} has {zf.getinfo(name).file_size} bytes; the manifest says {files[name]['size']}"
            )
        if _digest(zf, name) != files[name]["sha256"]:
            raise ArchiveError(f"the checksum of {name} does not match the manifest; the archive is damaged")
    tables: dict[str, pa.Table] = {}
    for name, meta in manifest["tables"].items():
        member = f"tables/{name}.parquet"
        if member not in files:
            raise ArchiveError(f"the archive has no {member}")
        try:
            table = pq.read_table(io.BytesIO(_read(zf, member)))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ArchiveError(f"{member} is not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        if table.num_rows != meta["rows"]:
            raise ArchiveError(f"{member} has {table.num_rows} rows; the manifest says {meta['rows']}")
        tables[name] = table
    if "entries" in tables:
        for column in IMAGE_COLUMNS:
            if column not in tables["entries"].column_names:
                raise ArchiveError(f"table entries has no column {column}")
            for rel in tables["entries"].column(column).to_pylist():
                if not isinstance(rel, str) or not IMAGE_PATH.fullmatch(rel):
                    raise ArchiveError(f"an entry names the photo {rel!r}, which is not a stored-photo path")
                if f"images/{rel}" not in files:
                    raise ArchiveError(f"an entry names the photo {rel}, which the archive does not hold")
    return manifest, tables


def _info(manifest: dict) -> ArchiveInfo:
    return ArchiveInfo(
        schema_version=manifest["schema_version"],
        created=str(manifest.get("created", "")),
        rows={name: meta["rows"] for name, meta in manifest["tables"].items()},
        images=sum(1 for name in manifest["files"] if name.startswith("images/")),
        size=sum(m["size"] for m in manifest["files"].values()),
    )


def check(settings: Settings, source: Source) -> ArchiveInfo:
    """Check an archive completely without touching any data; ``ArchiveError`` says what is wrong."""
    with _open_zip(source) as zf:
        manifest, _ = _validated(zf, settings)
    return _info(manifest)


# ---------------------------------------------------------------- restore


def _has_rows(con: duckdb.DuckDBPyConnection) -> bool:
    return any(con.execute(f"SELECT count(*) FROM {_quoted(t)}").fetchone()[0] for t in _tables(con))


def _write_images(zf: zipfile.ZipFile, settings: Settings, files: dict[str, dict]) -> None:
    for name, meta in files.items():
        if not name.startswith("images/"):
            continue
        data = _read(zf, name)
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:  # the source changed since it was checked
            raise ArchiveError(f"the checksum of {name} does not match the manifest; the archive is damaged")
        write_atomic(settings.images_dir / name.removeprefix("images/"), data)  # kill point: photo


def restore(settings: Settings, source: Source) -> ArchiveInfo:
    """Replace all current data with the archive's, or change nothing and raise ``ArchiveError``.

    The current data, if any, is first saved as ``backups/before-restore-*.zip``.
    """
    with _open_zip(source) as zf:
        manifest, tables = _validated(zf, settings)
        tables = _without_credentials(tables)
        staged = _staged_path(settings, "restore")
        try:
            _build(staged, manifest["schema_version"], tables, manifest.get("sequences", {}))
            # Held from the saved copy to the swap, so nothing written in between goes unsaved.
            with schema.connect(settings) as con:
                if _has_rows(con):
                    stamp = datetime.now().strftime("%Y%m%dT%H%M%S%f")
                    export(settings, settings.backups_dir / f"before-restore-{stamp}.zip")
                    dbcopy.prune(settings.backups_dir)
                _write_images(zf, settings, manifest["files"])  # kill point: staged
                _swap_in(con, staged, settings)
        finally:
            _discard(staged)
    # The photos of the data that was replaced go.
    store.remove_orphan_files(settings)  # kill point: swapped
    return _info(manifest)


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

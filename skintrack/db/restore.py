"""Restoring an archive: checked completely first, then all or nothing.

A restore checks everything before it touches anything: that the zip is whole, that every
name is a safe relative path, that the manifest is ours and its schema version is one this
skintrack knows, that each file's size and checksum match, that the tables load into a fresh
database of that version and that every photo an entry names is there. It then builds the new
database beside the current one (``rebuild``), saves the current data as a ``before-restore``
archive in the backups folder, adds the photos, and swaps the database file in with one rename
(the moment the restore happens). Photos of the old data are removed after the swap; a restore
killed before the swap leaves the old data and some unreferenced photos, which start-up
clean-up (``store.remove_orphan_files``) removes.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import zipfile
import zlib
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from skintrack.config import Settings
from skintrack.db import dbcopy, schema, store
from skintrack.db.archive import (
    FORMAT,
    FORMAT_VERSION,
    IMAGE_COLUMNS,
    IMAGE_PATH,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    SHA256,
    ArchiveError,
    ArchiveInfo,
    Source,
    _quoted,
    _tables,
    _without_credentials,
    export,
)
from skintrack.db.rebuild import _build, _discard, _staged_path, _swap_in
from skintrack.files import write_atomic

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

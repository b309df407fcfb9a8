"""Copies of the database: before any migration runs, and on demand; old ones pruned.

A backup is the DuckDB file alone, copied after a checkpoint while the copying connection
holds the file (so no other process writes half-way through). Photos are not copied: they
are content-addressed and never rewritten, so a backup's rows still find them unless they
were deleted. ``archive.export`` is the complete, portable copy; restoring one first saves
the current data as ``before-restore-*.zip`` here, pruned with the rest.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from . import store
from .config import Settings
from .files import write_atomic

KEEP = 10  # newest backups kept of each kind (database copies; before-restore archives)
DB_GLOB = "skintrack-*.duckdb"
ARCHIVE_GLOB = "before-restore-*.zip"


@dataclass(frozen=True)
class Backup:
    """One file in the backups folder."""

    path: Path
    created: datetime
    size: int
    reason: str


def _database_path(con: duckdb.DuckDBPyConnection) -> Path:
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return Path(row[0])


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%dT%H%M%S%f")


def copy_database(con: duckdb.DuckDBPyConnection, backups_dir: Path, reason: str) -> Path:
    """Checkpoint ``con``'s database and copy its file to ``backups_dir``; return the copy."""
    con.execute("CHECKPOINT")  # everything in the main file, nothing left in the WAL
    dest = backups_dir / f"skintrack-{_stamp()}-{reason}.duckdb"
    source = _database_path(con)
    try:
        write_atomic(dest, lambda tmp: shutil.copyfile(source, tmp))
    except OSError as exc:  # a full or read-only disk: say so rather than go on without a copy
        raise store.StoreError(f"cannot copy the database to {backups_dir}: {exc.strerror or exc}") from None
    prune(backups_dir)
    return dest


def before_migration(con: duckdb.DuckDBPyConnection, backups_dir: Path, version: int) -> Path:
    """The copy ``store.migrate`` makes of a database at schema ``version`` before upgrading it."""
    return copy_database(con, backups_dir, f"v{version}-before-migration")


def create(settings: Settings) -> Path:
    """Back up the database now (the Data page's button, ``python -m skintrack backup``)."""
    with store.connect(settings) as con:
        return copy_database(con, settings.backups_dir, "manual")


def _reason(path: Path) -> str:
    if path.suffix == ".zip":
        return "before restore (full archive)"
    parts = path.stem.split("-", 2)
    return parts[2].replace("-", " ") if len(parts) == 3 else "?"


def list_backups(settings: Settings) -> list[Backup]:
    """Every backup, newest first."""
    folder = settings.backups_dir
    if not folder.is_dir():
        return []
    found = [p for pattern in (DB_GLOB, ARCHIVE_GLOB) for p in folder.glob(pattern) if p.is_file()]
    out = [
        Backup(p, datetime.fromtimestamp(p.stat().st_mtime), p.stat().st_size, _reason(p)) for p in found
    ]
    return sorted(out, key=lambda b: (b.created, b.path.name), reverse=True)


def table(settings: Settings) -> pd.DataFrame:
    """The backups as a table for the Data page: created, what, size (MB), file."""
    return pd.DataFrame(
        [(b.created, b.reason, round(b.size / 2**20, 1), b.path.name) for b in list_backups(settings)],
        columns=["created", "what", "size (MB)", "file"],
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune(backups_dir: Path, keep: int = KEEP) -> list[Path]:
    """Delete all but the ``keep`` newest backups of each kind; return what was deleted."""
    removed = []
    for tmp in backups_dir.glob(".*.tmp"):  # a copy whose process was killed half-way
        pid = tmp.name.rsplit(".", 2)[-2]  # files.write_atomic names it .<name>.<random>.<pid>.tmp
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    for pattern in (DB_GLOB, ARCHIVE_GLOB):
        files = sorted(backups_dir.glob(pattern), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
        for path in files[keep:]:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_all(settings: Settings) -> int:
    """Delete every backup (they hold copies of deleted data); return how many files went."""
    folder = settings.backups_dir
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return count


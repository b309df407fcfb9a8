"""Copies of the database file: after a checkpoint, while the copying connection holds the file
(so no other process writes half-way through), then the oldest pruned.

``schema.migrate`` copies a database before upgrading it; ``backup`` lists the copies and makes
one on demand. This module needs no other part of skintrack's storage, so both can use it.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import duckdb

from skintrack.errors import StoreError
from skintrack.files import write_atomic

KEEP = 10  # newest backups kept of each kind (database copies; before-restore archives)
DB_GLOB = "skintrack-*.duckdb"
ARCHIVE_GLOB = "before-restore-*.zip"


def _database_path(con: duckdb.DuckDBPyConnection) -> Path:
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
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
        raise StoreError(f"cannot copy the database to {backups_dir}: {exc.strerror or exc}") from None
    prune(backups_dir)
    return dest


def before_migration(con: duckdb.DuckDBPyConnection, backups_dir: Path, version: int) -> Path:
    """The copy ``schema.migrate`` makes of a database at schema ``version`` before upgrading it."""
    return copy_database(con, backups_dir, f"v{version}-before-migration")


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

"""Copies of the database: before any migration runs, and on demand; old ones pruned.

A backup is the DuckDB file alone, copied after a checkpoint while the copying connection
holds the file (so no other process writes half-way through). Photos are not copied: they
are content-addressed and never rewritten, so a backup's rows still find them unless they
were deleted. ``archive.export`` is the complete, portable copy; restoring one first saves
the current data as ``before-restore-*.zip`` here, pruned with the rest. The copying and
pruning themselves are ``dbcopy``'s, which ``schema.migrate`` uses without importing this module.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from skintrack.config import Settings
from skintrack.db import schema
from skintrack.db.dbcopy import ARCHIVE_GLOB, DB_GLOB, copy_database


@dataclass(frozen=True)
class Backup:
    """One file in the backups folder."""

    path: Path
    created: datetime
    size: int
    reason: str


def create(settings: Settings) -> Path:
    """Back up the database now (the Data page's button, ``python -m skintrack backup``)."""
    with schema.connect(settings) as con:
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
    out = [Backup(p, datetime.fromtimestamp(p.stat().st_mtime), p.stat().st_size, _reason(p)) for p in found]
    return sorted(out, key=lambda b: (b.created, b.path.name), reverse=True)


def table(settings: Settings) -> pd.DataFrame:
    """The backups as a table for the Data page: created, what, size (MB), file."""
    return pd.DataFrame(
        [(b.created, b.reason, round(b.size / 2**20, 1), b.path.name) for b in list_backups(settings)],
        columns=["created", "what", "size (MB)", "file"],
    )


def remove_all(settings: Settings) -> int:
    """Delete every backup (they hold copies of deleted data); return how many files went."""
    folder = settings.backups_dir
    if not folder.is_dir():
        return 0
    count = sum(1 for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return count

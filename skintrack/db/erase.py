"""Deleting what the user asks to delete: one entry, a span of days, or everything.

Rows go first, in one transaction, then the photo files, then the database file is rewritten
(``rebuild.compact``) so that deleted rows leave nothing in its freed blocks.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date

from skintrack.config import Settings
from skintrack.db import backup, rebuild, schema, store


@dataclass(frozen=True)
class Deleted:
    """What a deletion removed."""

    entries: int
    files: int
    days_logged: int = 0


_SELECT_ONE = "SELECT id, image_path, aligned_path FROM entries WHERE id = ?"
_SELECT_SPAN = "SELECT id, image_path, aligned_path FROM entries WHERE CAST(taken_at AS DATE) BETWEEN ? AND ?"


def _unlink_images(settings: Settings, rel_paths: list[str]) -> int:
    root = settings.images_dir.resolve()
    count = 0
    for rel in rel_paths:
        path = (settings.images_dir / rel).resolve()
        if path.parent.parent == root and path.is_file():  # only <images>/<aa>/<file>
            path.unlink()
            count += 1
    return count


def _delete_rows(settings: Settings, select: str, params: list, log_between: tuple[date, date] | None) -> Deleted:
    # Rows go first, in one transaction; files after. A process killed in between leaves
    # unreferenced files only, which start-up clean-up (remove_orphan_files) deletes.
    with schema.connect(settings) as con, schema.transaction(con):
        doomed = con.execute(select, params).fetchall()
        ids = [row[0] for row in doomed]
        if ids:
            con.execute("DELETE FROM scores WHERE list_contains(?, entry_id)", [ids])
            con.execute("DELETE FROM withheld WHERE list_contains(?, entry_id)", [ids])
            con.execute("DELETE FROM entries WHERE list_contains(?, id)", [ids])
        days = 0
        if log_between is not None:
            days = con.execute(
                "SELECT count(*) FROM lifestyle WHERE day BETWEEN ? AND ?", list(log_between)
            ).fetchone()[0]
            con.execute("DELETE FROM lifestyle WHERE day BETWEEN ? AND ?", list(log_between))
            con.execute("DELETE FROM product_use WHERE day BETWEEN ? AND ?", list(log_between))
    files = _unlink_images(settings, [p for row in doomed for p in row[1:]])  # kill point: rows-deleted
    if ids or days:
        rebuild.compact(settings)  # DuckDB keeps deleted rows in freed blocks until the file is rewritten
    return Deleted(len(ids), files, days)


def delete_entry(settings: Settings, entry_id: int) -> Deleted:
    """Delete one entry, its scores and both its image files."""
    deleted = _delete_rows(settings, _SELECT_ONE, [int(entry_id)], None)
    if not deleted.entries:
        raise store.NotFoundError(f"no entry {entry_id}")
    return deleted


def delete_span(settings: Settings, first: date, last: date, include_log: bool = True) -> Deleted:
    """Delete every entry taken from ``first`` to ``last`` (inclusive), with the lifestyle log of those days."""
    if last < first:
        raise store.StoreError(f"the range {first.isoformat()} to {last.isoformat()} ends before it starts")
    return _delete_rows(settings, _SELECT_SPAN, [first, last], (first, last) if include_log else None)


def delete_everything(settings: Settings) -> Deleted:
    """Delete every row of every table, every photo and every backup."""
    with schema.connect(settings) as con:
        entries_count = con.execute("SELECT count(*) FROM entries").fetchone()[0]
        days = con.execute("SELECT count(*) FROM lifestyle").fetchone()[0]
    rebuild.clear(settings)
    files = 0
    if settings.images_dir.exists():
        files = sum(1 for p in settings.images_dir.rglob("*") if p.is_file())
        shutil.rmtree(settings.images_dir)  # kill point: photos-left
    backup.remove_all(settings)
    return Deleted(entries_count, files, days)

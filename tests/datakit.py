"""Helpers for the data tests: real entries without the face pipeline, photo variants, and a
fingerprint of everything under a data home."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime
from pathlib import Path

import numpy as np
from conftest import rgb_of
from PIL import Image

from skintrack.config import Settings
from skintrack.db import schema, store


def variant(i: int, name: str = "obama-1080p.jpg") -> bytes:
    """The photo ``name`` with a 4x4 corner set to grey level ``i``: same face, different hash."""
    rgb = rgb_of(name).copy()
    rgb[:4, :4] = i % 256
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _jpeg(seed: int, size: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def add_entry(settings: Settings, seed: int, taken_at: datetime) -> int:
    """Store one entry with real JPEG files and three scores, straight through ``store.add_entry``."""
    sha = hashlib.sha256(f"entry-{seed}".encode()).hexdigest()
    return store.add_entry(
        settings,
        store.NewEntry(
            taken_at=taken_at,
            image_sha256=sha,
            original_jpeg=_jpeg(seed),
            aligned_jpeg=_jpeg(seed + 10_000),
            width=64,
            height=64,
            quality={"ok": True},
            alignment_rms=0.01,
            yaw=1.0,
            pitch=2.0,
            roll=3.0,
            scores=[
                ("measure@1", "redness", "face", 10.0 + seed),
                ("measure@1", "ita", "face", 30.0),
                ("measure@1", "redness", "chin", 12.5),
            ],
        ),
    )


def fill(settings: Settings, days: int = 4) -> list[int]:
    """One entry a day from 2026-03-01 and a lifestyle log with a product on each day."""
    ids = []
    for i in range(days):
        day = date(2026, 3, 1 + i)
        ids.append(add_entry(settings, i, datetime(2026, 3, 1 + i, 8, 30)))
        store.log_day(
            settings,
            day,
            {
                "sleep_hours": 7.5,
                "stress": 2,
                "diet": ["dairy"],
                "note": f"day {i}: 'quoted'; DROP TABLE entries; -- <b>😀</b>",
            },
            [("SPF 50", "AM"), ('Retinol "0.3%"', "PM")],
        )
    return ids


def files_under(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folder``."""
    if not folder.exists():
        return {}
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def table_rows(settings: Settings) -> dict[str, list]:
    """Every row of every table (but the migration record), sorted, for comparing two homes."""
    with schema.connect(settings) as con:
        names = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
                " AND table_name <> 'schema_migrations' ORDER BY table_name"
            ).fetchall()
        ]
        return {n: sorted(map(repr, con.sql(f'SELECT * FROM "{n}"').fetchall())) for n in names}


def state(settings: Settings) -> tuple[dict, dict]:
    """(rows of every table, files under images/): equal before and after means nothing changed."""
    return table_rows(settings), files_under(settings.images_dir)

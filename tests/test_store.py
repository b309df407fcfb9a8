"""DuckDB store: atomic check-ins, the lifestyle log."""

from datetime import date, datetime

import duckdb
import pytest

from skintrack.db import schema, store


def _entry(sha="ab" * 32, scores=(("measure@1", "redness", "face", 12.5),)):
    return store.NewEntry(
        taken_at=datetime(2026, 3, 1, 8, 30),
        image_sha256=sha,
        original_jpeg=b"orig",
        aligned_jpeg=b"aligned",
        width=640,
        height=480,
        quality={"ok": True},
        alignment_rms=3.0,
        yaw=1.0,
        pitch=2.0,
        roll=0.5,
        scores=list(scores),
    )


def test_add_entry_stores_rows_and_files(settings):
    entry_id = store.add_entry(settings, _entry())
    row = store.entry(settings, entry_id)
    assert store.read_image(settings, row["image_path"]) == b"orig"
    assert store.read_image(settings, row["aligned_path"]) == b"aligned"
    scores = store.scores(settings)
    assert list(scores["value"]) == [12.5]


def test_duplicate_photo_is_refused(settings):
    store.add_entry(settings, _entry())
    with pytest.raises(store.DuplicatePhoto, match="already stored"):
        store.add_entry(settings, _entry())


def test_a_failing_checkin_leaves_neither_row_nor_file(settings):
    # Two scores with the same key violate the primary key inside the transaction.
    bad = _entry(scores=[("measure@1", "redness", "face", 1.0), ("measure@1", "redness", "face", 2.0)])
    with pytest.raises(duckdb.ConstraintException):
        store.add_entry(settings, bad)
    assert store.entries(settings).empty
    assert store.scores(settings).empty
    assert not [p for p in settings.images_dir.rglob("*") if p.is_file()]


def test_orphan_files_are_removed_on_start(settings):
    store.add_entry(settings, _entry())
    orphan = settings.images_dir / "cd" / ("cd" * 32 + ".jpg")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a killed check-in")
    assert store.remove_orphan_files(settings) == [orphan]
    assert len([p for p in settings.images_dir.rglob("*") if p.is_file()]) == 2


def test_log_day_round_trip_and_replace(settings):
    day = date(2026, 3, 1)
    assert store.get_day(settings, day) is None
    store.log_day(
        settings,
        day,
        {"sleep_hours": 6.5, "stress": 4, "diet": ["dairy"], "note": "'; DROP TABLE entries; --"},
        [("Retinol", "PM"), ("SPF 50", "AM")],
    )
    got = store.get_day(settings, day)
    assert got["sleep_hours"] == 6.5 and got["stress"] == 4 and got["diet"] == ["dairy"]
    assert got["note"] == "'; DROP TABLE entries; --"
    assert got["products"] == [("Retinol", "PM"), ("SPF 50", "AM")]
    store.log_day(settings, day, {"sleep_hours": 8.0}, [("Retinol", "PM")])
    got = store.get_day(settings, day)
    assert got["sleep_hours"] == 8.0 and got["stress"] is None and got["products"] == [("Retinol", "PM")]
    assert len(store.lifestyle(settings)) == 1


@pytest.mark.parametrize("error", [ValueError("bad row"), KeyboardInterrupt()])
def test_a_transaction_interrupted_midway_writes_nothing(settings, error):
    store.log_day(settings, date(2026, 1, 1), {"sleep_hours": 7.0})
    with pytest.raises(type(error)), schema.connect(settings) as con, schema.transaction(con):
        con.execute("DELETE FROM lifestyle")
        raise error
    assert store.get_day(settings, date(2026, 1, 1))["sleep_hours"] == 7.0
    with pytest.raises(store.StoreError, match="unknown lifestyle fields"):
        store.log_days(settings, [(date(2026, 1, 2), {"sleep_hours": 6.0}, []), (date(2026, 1, 3), {"mood": 3}, [])])
    assert store.get_day(settings, date(2026, 1, 2)) is None  # all or nothing

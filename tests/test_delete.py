"""Delete one entry, a day, a date range or everything: nothing of it stays in the database or on disk."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from conftest import photo_bytes
from datakit import add_entry, files_under, fill, table_rows

from skintrack import pipeline
from skintrack.__main__ import main
from skintrack.db import backup, erase, schema, store


def _entry_traces(settings, entry_id: int) -> list[str]:
    """Every place where something of entry ``entry_id`` could remain."""
    row = store.entry(settings, entry_id)
    return [row["image_sha256"], row["image_path"], row["aligned_path"]]


def _db_bytes(settings) -> bytes:
    with schema.connect(settings) as con:
        con.execute("CHECKPOINT")
    return settings.db_path.read_bytes()


def test_deleting_one_entry_removes_its_rows_files_and_every_trace_in_the_file(settings):
    ids = fill(settings)
    sha, original, aligned = _entry_traces(settings, ids[1])
    assert sha.encode() in _db_bytes(settings)
    done = erase.delete_entry(settings, ids[1])
    assert (done.entries, done.files, done.days_logged) == (1, 2, 0)
    with schema.connect(settings) as con:
        assert con.execute("SELECT count(*) FROM entries WHERE id = ?", [ids[1]]).fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM scores WHERE entry_id = ?", [ids[1]]).fetchone()[0] == 0
    assert not (settings.images_dir / original).exists() and not (settings.images_dir / aligned).exists()
    # DuckDB leaves deleted rows in freed blocks; the delete rewrites the file so they are gone.
    assert sha.encode() not in _db_bytes(settings)
    # The others are untouched, and their files still there.
    rest = store.entries(settings)
    assert list(rest["id"]) == [ids[0], ids[2], ids[3]]
    assert set(files_under(settings.images_dir)) == set(rest["image_path"]) | set(rest["aligned_path"])
    assert len(store.scores(settings)) == 9 and len(store.lifestyle(settings)) == 4
    with pytest.raises(store.NotFoundError, match=f"no entry {ids[1]}"):
        erase.delete_entry(settings, ids[1])


def test_deleting_a_day_removes_its_entries_and_its_log(settings):
    fill(settings)
    add_entry(settings, 77, datetime(2026, 3, 2, 21, 0))  # a second photo that day
    done = erase.delete_span(settings, date(2026, 3, 2), date(2026, 3, 2))
    assert (done.entries, done.files, done.days_logged) == (2, 4, 1)
    assert list(store.entries(settings)["taken_at"].dt.day) == [1, 3, 4]
    assert store.get_day(settings, date(2026, 3, 2)) is None
    assert store.get_day(settings, date(2026, 3, 3))["products"]  # other days keep their products
    with schema.connect(settings) as con:
        assert con.execute("SELECT count(*) FROM product_use WHERE day = ?", [date(2026, 3, 2)]).fetchone()[0] == 0


def test_deleting_a_range_can_keep_the_log(settings):
    fill(settings)
    done = erase.delete_span(settings, date(2026, 3, 2), date(2026, 3, 3), include_log=False)
    assert (done.entries, done.files, done.days_logged) == (2, 4, 0)
    assert len(store.entries(settings)) == 2 and len(store.lifestyle(settings)) == 4
    assert erase.delete_span(settings, date(2020, 1, 1), date(2020, 1, 31)).entries == 0
    with pytest.raises(store.StoreError, match="ends before it starts"):
        erase.delete_span(settings, date(2026, 3, 3), date(2026, 3, 2))


def test_deleting_everything_leaves_an_empty_usable_home(settings):
    fill(settings)
    backup.create(settings)
    done = erase.delete_everything(settings)
    assert (done.entries, done.files, done.days_logged) == (4, 8, 4)
    assert all(rows == [] for rows in table_rows(settings).values())
    assert files_under(settings.images_dir) == {} and files_under(settings.backups_dir) == {}
    assert b"SPF 50" not in _db_bytes(settings) and b"DROP TABLE" not in _db_bytes(settings)
    # The home still works: a real check-in goes through the whole pipeline.
    entry_id, _ = pipeline.checkin(settings, photo_bytes("obama-1080p.jpg"), datetime(2026, 3, 5, 8))
    assert store.entries(settings)["id"].tolist() == [entry_id]


def test_cli_delete(settings, capsys):
    ids = fill(settings)
    home = ["--home", str(settings.home)]
    assert main(["delete", "--entry", str(ids[0]), *home]) == 0
    assert "deleted 1 entries, 2 image files" in capsys.readouterr().out
    assert main(["delete", "--entry", "999", *home]) == 2
    assert "no entry 999" in capsys.readouterr().err
    assert main(["delete", "--from", "2026-03-02", "--to", "2026-03-03", *home]) == 0
    assert main(["delete", "--day", "2999-01-01", *home]) == 2  # in the future
    assert main(["delete", "--day", "../../etc", *home]) == 2
    assert main(["delete", "--everything", *home]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert len(store.entries(settings)) == 1
    assert main(["delete", "--everything", "--yes", *home]) == 0
    assert store.entries(settings).empty

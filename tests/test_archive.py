"""Export and restore (all or nothing, validated first) and database backups."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from datetime import date, datetime

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datakit import add_entry, files_under, fill, state, table_rows

from skintrack.config import Settings
from skintrack.db import archive, backup, dbcopy, restore, schema, store


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Settings:
    """A home with four entries and four logged days."""
    settings = Settings.for_home(tmp_path_factory.mktemp("source"))
    fill(settings)
    return settings


@pytest.fixture(scope="module")
def exported(source) -> bytes:
    """The export of ``source``."""
    buf = io.BytesIO()
    archive.export(source, buf)
    return buf.getvalue()


@pytest.fixture
def other(settings) -> Settings:
    """A home that already holds different data: two entries and their logs."""
    add_entry(settings, 100, datetime(2025, 1, 1, 9))
    add_entry(settings, 101, datetime(2025, 1, 2, 9))
    store.log_day(settings, date(2025, 1, 1), {"stress": 5, "note": "other home"})
    return settings


def rewrite(data: bytes, changes: dict, manifest=None, fix_checksums: bool = True) -> bytes:
    """A copy of the zip ``data`` with members replaced (bytes) or removed (None), new ones added,
    and the manifest changed by ``manifest(m)``; checksums are recomputed unless told not to."""
    src = zipfile.ZipFile(io.BytesIO(data))
    members = {n: src.read(n) for n in src.namelist()}
    for name, new in changes.items():
        if new is None:
            members.pop(name, None)
        else:
            members[name] = new
    m = json.loads(members.pop(archive.MANIFEST))
    if fix_checksums:
        m["files"] = {n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for n, b in members.items()}
    if manifest is not None:
        manifest(m)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
        zf.writestr(archive.MANIFEST, json.dumps(m))
    return out.getvalue()


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _entries_with(data: bytes, column: str, value) -> bytes:
    table = pq.read_table(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("tables/entries.parquet")))
    values = table.column(column).to_pylist()
    values[0] = value
    return _parquet(
        table.set_column(table.column_names.index(column), column, pa.array(values, table.schema.field(column).type))
    )


def test_export_then_restore_gives_back_every_row_and_photo(source, exported, settings):
    info = restore.restore(settings, exported)
    assert info.entries == 4 and info.images == 8 and info.rows["lifestyle"] == 4
    assert table_rows(settings) == table_rows(source)
    assert files_under(settings.images_dir) == files_under(source.images_dir)
    # The id sequence continues after the restored ids: a new entry gets a fresh id.
    assert add_entry(settings, 50, datetime(2026, 3, 9, 8)) == 5
    # Emoji, quotes, SQL and HTML in a note survive the round trip.
    assert "DROP TABLE entries; -- <b>😀</b>" in store.get_day(settings, date(2026, 3, 1))["note"]


def test_archive_holds_parquet_csv_images_and_a_manifest(exported):
    zf = zipfile.ZipFile(io.BytesIO(exported))
    m = json.loads(zf.read("manifest.json"))
    assert m["format"] == "skintrack-export" and m["schema_version"] == len(schema.MIGRATIONS)
    assert {"entries", "scores", "lifestyle", "products", "product_use"} <= set(m["tables"])
    for name, meta in m["files"].items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"]
    assert sum(n.startswith("images/") for n in zf.namelist()) == 8
    lifestyle = pd.read_csv(io.BytesIO(zf.read("tables/lifestyle.csv")))
    assert len(lifestyle) == 4 and json.loads(lifestyle["diet"][0]) == ["dairy"]
    assert len(pd.read_parquet(io.BytesIO(zf.read("tables/scores.parquet")))) == 12


def _bad_archives(data: bytes) -> dict[str, tuple[bytes, str]]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    image = next(n for n in zf.namelist() if n.startswith("images/"))
    flipped = bytearray(data)
    offset = data.index(zf.read(image)[200:216])  # inside a stored (uncompressed) photo
    flipped[offset] ^= 0xFF
    foreign = io.BytesIO()
    with zipfile.ZipFile(foreign, "w") as f:
        f.writestr("holiday/photo.jpg", b"\xff\xd8\xff not ours")
    return {
        "empty": (b"", "not a zip"),
        "text": (b"just some text renamed .zip", "not a zip"),
        "truncated": (data[: len(data) // 2], "not a zip"),
        "flipped-byte": (bytes(flipped), "damaged"),
        "foreign-zip": (foreign.getvalue(), "not part of a skintrack export"),
        "no-manifest": (rewrite(data, {}, lambda m: None)[:0] + _without_manifest(data), "no manifest"),
        "other-format": (rewrite(data, {}, lambda m: m.update(format="photos-app")), "not a skintrack export"),
        "newer-schema": (rewrite(data, {}, lambda m: m.update(schema_version=99)), "newer than this skintrack"),
        "bad-checksum": (rewrite(data, {}, lambda m: m["files"][image].update(sha256="0" * 64)), "checksum"),
        "size-lie": (rewrite(data, {}, lambda m: m["files"][image].update(size=5)), "manifest says"),
        "missing-file": (
            rewrite(data, {image: None}, lambda m: m["files"].update({image: {"sha256": "0" * 64, "size": 1}})),
            "missing",
        ),
        "unlisted-file": (
            rewrite(data, {"images/zz/extra.jpg": b"x"}, lambda m: m["files"].pop("images/zz/extra.jpg")),
            "not in its manifest",
        ),
        "dot-dot": (rewrite(data, {"images/../../escape.txt": b"x"}), "unsafe path"),
        "absolute": (rewrite(data, {"/etc/evil": b"x"}), "unsafe path"),
        "backslash": (rewrite(data, {"images\\..\\evil.jpg": b"x"}), "unsafe path"),
        "entry-path-escape": (
            rewrite(data, {"tables/entries.parquet": _entries_with(data, "image_path", "../../../etc/passwd")}),
            "not a stored-photo path",
        ),
        "entry-photo-absent": (
            rewrite(data, {"tables/entries.parquet": _entries_with(data, "image_path", "ab/" + "ab" * 32 + ".jpg")}),
            "does not hold",
        ),
        "rows-lie": (rewrite(data, {}, lambda m: m["tables"]["scores"].update(rows=13)), "manifest says 13"),
        "not-parquet": (rewrite(data, {"tables/scores.parquet": b"PAR1 garbage"}), "not a readable Parquet"),
        "missing-table": (
            rewrite(data, {"tables/products.parquet": None}, lambda m: m["tables"].pop("products")),
            "do not match schema",
        ),
        "duplicate-ids": (rewrite(data, {"tables/entries.parquet": _entries_with(data, "id", 2)}), "cannot be loaded"),
        "manifest-not-json": (_with_manifest(data, b"{not json"), "not valid JSON"),
        "odd-photo-name": (rewrite(data, {"images/.staging/evil.duckdb": b"x"}), "not a stored-photo path"),
        "odd-table-name": (rewrite(data, {"tables/Robert'); DROP TABLE x;--.csv": b"x"}), "not a table file"),
    }


def _without_manifest(data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for n in src.namelist():
            if n != archive.MANIFEST:
                zf.writestr(n, src.read(n))
    return out.getvalue()


def _with_manifest(data: bytes, manifest: bytes) -> bytes:
    out = io.BytesIO(_without_manifest(data))
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr(archive.MANIFEST, manifest)
    return out.getvalue()


BAD = [
    "empty",
    "text",
    "truncated",
    "flipped-byte",
    "foreign-zip",
    "no-manifest",
    "other-format",
    "newer-schema",
    "bad-checksum",
    "size-lie",
    "missing-file",
    "unlisted-file",
    "dot-dot",
    "absolute",
    "backslash",
    "entry-path-escape",
    "entry-photo-absent",
    "rows-lie",
    "not-parquet",
    "missing-table",
    "duplicate-ids",
    "manifest-not-json",
    "odd-photo-name",
    "odd-table-name",
]


def test_every_bad_archive_is_refused_with_a_reason_and_nothing_changes(exported, other):
    before = state(other)
    for name, (data, reason) in _bad_archives(exported).items():
        with pytest.raises(archive.ArchiveError, match=reason):
            restore.restore(other, data)
        assert state(other) == before, name
    assert set(_bad_archives(exported)) == set(BAD)
    assert not list(other.backups_dir.glob("before-restore-*"))  # refused before anything was saved
    assert not (other.home.parent / "escape.txt").exists()


def test_restore_replaces_current_data_and_keeps_it_as_an_archive(exported, other, tmp_path):
    before = state(other)
    restore.restore(other, exported)
    assert len(store.entries(other)) == 4 and store.get_day(other, date(2025, 1, 1)) is None
    saved = list(other.backups_dir.glob("before-restore-*.zip"))
    assert len(saved) == 1
    # The saved archive brings the replaced data back exactly.
    restore.restore(other, saved[0])
    assert state(other) == before


def test_an_archive_of_an_older_schema_is_migrated_on_restore(exported, settings):
    if len(schema.MIGRATIONS) < 2:
        pytest.skip("only one migration so far")
    old = len(schema.MIGRATIONS) - 1
    probe = duckdb.connect()
    schema.migrate(probe, target=old)
    old_tables = {r[0] for r in probe.execute("SELECT table_name FROM duckdb_tables()").fetchall()} - {
        "schema_migrations"
    }
    m = json.loads(zipfile.ZipFile(io.BytesIO(exported)).read("manifest.json"))
    dropped = {f"tables/{t}.{ext}": None for t in set(m["tables"]) - old_tables for ext in ("parquet", "csv")}

    def downgrade(m):
        m["schema_version"] = old
        m["tables"] = {t: v for t, v in m["tables"].items() if t in old_tables}

    restore.restore(settings, rewrite(exported, dropped, downgrade))
    with schema.connect(settings) as con:
        assert schema.schema_version(con) == len(schema.MIGRATIONS)
    assert len(store.entries(settings)) == 4


def test_export_to_a_file_is_written_whole_or_not_at_all(settings, tmp_path):
    fill(settings, days=2)
    dest = tmp_path / "out" / "export.zip"
    (settings.images_dir / store.entries(settings)["image_path"][0]).unlink()  # a photo gone missing
    with pytest.raises(store.StoreError, match="is missing"):
        archive.export(settings, dest)
    assert not dest.exists() and not list(dest.parent.glob(".*tmp"))


def test_the_database_is_copied_before_a_migration(settings):
    if len(schema.MIGRATIONS) < 2:
        pytest.skip("only one migration so far")
    old = len(schema.MIGRATIONS) - 1
    settings.home.mkdir(parents=True, exist_ok=True)  # resolving the home creates nothing
    con = duckdb.connect(str(settings.db_path))
    schema.migrate(con, target=old)
    con.execute("INSERT INTO lifestyle (day, stress, note) VALUES (?, ?, ?)", [date(2026, 1, 1), 3, "before"])
    con.close()
    with schema.connect(settings) as con:
        assert schema.schema_version(con) == len(schema.MIGRATIONS)
    (copy,) = settings.backups_dir.glob(f"skintrack-*-v{old}-before-migration.duckdb")
    con = duckdb.connect(str(copy), read_only=True)
    assert schema.schema_version(con) == old
    assert con.execute("SELECT note FROM lifestyle").fetchall() == [("before",)]
    con.close()
    # A database that is already up to date is not copied again.
    with schema.connect(settings):
        pass
    assert len(list(settings.backups_dir.glob("*.duckdb"))) == 1


def test_backups_on_demand_are_usable_and_pruned(settings):
    fill(settings, days=1)
    made = [backup.create(settings) for _ in range(dbcopy.KEEP + 3)]
    kept = backup.list_backups(settings)
    assert len(kept) == dbcopy.KEEP and [b.path for b in kept] == made[::-1][: dbcopy.KEEP]
    con = duckdb.connect(str(kept[0].path), read_only=True)
    assert con.execute("SELECT count(*) FROM entries").fetchone()[0] == 1
    con.close()
    assert backup.remove_all(settings) == dbcopy.KEEP and backup.list_backups(settings) == []


def test_cli_export_restore_and_check(tmp_path, settings, exported):
    from skintrack.__main__ import main

    path = tmp_path / "in.zip"
    path.write_bytes(exported)
    assert main(["restore", str(path), "--check", "--home", str(settings.home)]) == 0
    assert store.entries(settings).empty  # --check changes nothing
    assert main(["restore", str(path), "--home", str(settings.home)]) == 0
    out = tmp_path / "again.zip"
    assert main(["export", str(out), "--home", str(settings.home)]) == 0
    assert restore.check(settings, out).entries == 4
    broken = tmp_path / "broken.zip"
    broken.write_bytes(exported[:1000])
    assert main(["restore", str(broken), "--home", str(settings.home)]) == 2
    shutil.rmtree(settings.images_dir)
    assert main(["export", str(tmp_path / "x.zip"), "--home", str(settings.home)]) == 2


def test_a_backup_that_cannot_be_written_says_why(settings):
    fill(settings, days=1)
    settings.backups_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.backups_dir.write_text("a file where the backups folder should be")
    with pytest.raises(store.StoreError, match="cannot copy the database"):
        backup.create(settings)
    assert len(store.entries(settings)) == 1

"""The product catalogue and routine on a real DuckDB in a fresh home."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from skintrack.db import lifestyle, products, restore, schema, store

TODAY = date(2026, 3, 1)


def test_catalogue_add_update_and_refuse_duplicates(settings):
    pid = products.save_product(
        settings, "  Azelaic   acid 10% ", brand="Brand", kind="treatment", ingredients="azelaic acid"
    )
    cat = products.catalogue(settings)
    assert list(cat["name"]) == ["Azelaic acid 10%"] and cat.iloc[0]["kind"] == "treatment"
    with pytest.raises(products.ProductError, match="already in the catalogue"):
        products.save_product(settings, "azelaic ACID 10%")
    products.save_product(settings, "Azelaic acid 15%", kind="treatment", product_id=pid)
    assert list(products.catalogue(settings)["name"]) == ["Azelaic acid 15%"]
    with pytest.raises(lifestyle.InvalidLog, match="product type"):
        products.save_product(settings, "X", kind="potion")
    with pytest.raises(lifestyle.InvalidLog, match="needs a name"):
        products.save_product(settings, "   ")


def test_routine_start_stop_and_periods(settings):
    products.start(settings, "Retinol", date(2026, 1, 10), "PM", today=TODAY)
    with pytest.raises(products.ProductError, match="already in the routine"):
        products.start(settings, "Retinol", date(2026, 1, 20), today=TODAY)
    with pytest.raises(products.ProductError, match="started on"):
        products.stop(settings, "Retinol", date(2026, 1, 1), today=TODAY)
    assert products.active_on(settings, date(2026, 1, 15)) == [("Retinol", "PM")]
    products.stop(settings, "Retinol", date(2026, 2, 1), today=TODAY)
    assert products.active_on(settings, date(2026, 2, 2)) == []
    with pytest.raises(products.ProductError, match="not in the routine"):
        products.stop(settings, "Retinol", date(2026, 2, 5), today=TODAY)
    products.start(settings, "Retinol", date(2026, 2, 10), "AM+PM", today=TODAY)
    periods = products.routine(settings)
    assert len(periods) == 2 and periods["stop"].isna().tolist() == [False, True]
    assert products.active_on(settings, date(2026, 2, 11)) == [("Retinol", "AM"), ("Retinol", "PM")]
    assert products.catalogue(settings).iloc[0]["in_use_since"] == pd.Timestamp("2026-02-10")
    with pytest.raises(lifestyle.InvalidLog, match="future"):
        products.start(settings, "SPF", date(2026, 3, 2), today=TODAY)


def test_delete_product_removes_its_history(settings):
    products.start(settings, "Toner", date(2026, 1, 1), today=TODAY)
    store.log_day(settings, date(2026, 1, 2), {"stress": 2}, [("Toner", "AM")])
    assert len(products.uses(settings)) == 1
    pid = int(products.catalogue(settings).iloc[0]["id"])
    products.delete_product(settings, pid)
    assert products.catalogue(settings).empty and products.routine(settings).empty and products.uses(settings).empty
    assert store.get_day(settings, date(2026, 1, 2))["products"] == []


def test_routine_command(settings, capsys):
    from skintrack.__main__ import main

    home = str(settings.home)
    assert main(["routine", "start", "Retinol serum", "--on", "2026-01-10", "--when", "PM", "--home", home]) == 0
    assert main(["routine", "stop", "Retinol serum", "--on", "2026-01-01", "--home", home]) == 2
    assert "cannot stop Retinol serum on 2026-01-01: it started on 2026-01-10" in capsys.readouterr().err
    assert main(["routine", "stop", "Retinol serum", "--on", "2026-02-01", "--home", home]) == 0
    assert main(["routine", "list", "--home", home]) == 0
    assert "Retinol serum (PM): 2026-01-10 to 2026-02-01" in capsys.readouterr().out
    assert main(["routine", "start", "--home", home]) == 2


def test_a_product_logged_in_another_case_is_the_same_product(settings):
    products.start(settings, "Retinol serum", date(2026, 1, 10), "PM", today=TODAY)
    store.log_day(settings, date(2026, 1, 11), {}, [("retinol serum", "PM")])
    store.log_day(settings, date(2026, 1, 12), {}, [("RETINOL SERUM", "AM"), ("Retinol Serum", "AM")])
    assert store.product_names(settings) == ["Retinol serum"]
    assert store.get_day(settings, date(2026, 1, 12))["products"] == [("Retinol serum", "AM")]
    products.stop(settings, "retinol SERUM", date(2026, 1, 20), today=TODAY)
    assert list(products.uses(settings)["product"]) == ["Retinol serum", "Retinol serum"]


def _merge_version() -> int:
    # Looked up by name: other migrations may come before or after it.
    return next(v for v, (name, _) in enumerate(schema.MIGRATIONS, start=1) if name.startswith("products: merge names"))


def test_the_migration_merges_case_duplicates_keeping_their_history(settings):
    import duckdb

    settings.home.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.db_path))
    schema.migrate(con, target=_merge_version() - 1)
    con.execute(
        "INSERT INTO products (id, name, brand, kind) VALUES (1, 'Retinol serum', NULL, 'serum'),"
        " (2, 'retinol serum', 'Acme', NULL), (3, 'RETINOL SERUM', NULL, NULL), (4, 'SPF 50', NULL, NULL)"
    )
    con.execute(
        "INSERT INTO product_use VALUES ('2026-01-01', 1, 'AM'), ('2026-01-01', 2, 'AM'),"
        " ('2026-01-01', 3, 'PM'), ('2026-01-02', 2, 'AM'), ('2026-01-02', 4, 'AM')"
    )
    con.execute(
        "INSERT INTO routine (product_id, time_of_day, start_day, stop_day) VALUES"
        " (2, 'PM', '2025-12-01', '2025-12-20'), (1, 'AM', '2026-01-01', NULL)"
    )
    schema.migrate(con)
    assert schema.schema_version(con) == len(schema.MIGRATIONS)
    assert con.execute("SELECT id, name, brand, kind FROM products ORDER BY id").fetchall() == [
        (1, "Retinol serum", "Acme", "serum"),
        (4, "SPF 50", None, None),
    ]
    assert con.execute("SELECT day::VARCHAR, product_id, time_of_day FROM product_use ORDER BY ALL").fetchall() == [
        ("2026-01-01", 1, "AM"),
        ("2026-01-01", 1, "PM"),
        ("2026-01-02", 1, "AM"),
        ("2026-01-02", 4, "AM"),
    ]
    assert con.execute("SELECT product_id, start_day::VARCHAR FROM routine ORDER BY start_day").fetchall() == [
        (1, "2025-12-01"),
        (1, "2026-01-01"),
    ]
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO products (name) VALUES ('spf 50')")
    assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()[0]
    con.close()
    # The merged catalogue still exports and restores.
    from skintrack.db import archive

    data = archive.export_bytes(settings)
    store.log_day(settings, date(2026, 1, 3), {}, [("spf 50", "AM")])
    restore.restore(settings, data)
    assert store.product_names(settings) == ["Retinol serum", "SPF 50"]


def test_renaming_a_product_to_another_case_of_its_name(settings):
    pid = products.save_product(settings, "Retinol serum")
    products.save_product(settings, "retinol SERUM", product_id=pid)
    assert store.product_names(settings) == ["retinol SERUM"]


def test_an_archive_from_before_the_merge_restores_merged(settings, tmp_path):
    import io

    import duckdb

    from skintrack.db import archive

    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    schema.migrate(con, target=_merge_version() - 1)
    con.execute("INSERT INTO products (name) VALUES ('SPF 50'), ('spf 50')")
    con.execute("INSERT INTO product_use VALUES ('2026-01-01', 1, 'AM'), ('2026-01-02', 2, 'AM')")
    version, tables, sequences = archive._snapshot(con)
    con.close()
    buf = io.BytesIO()
    archive._write_zip(settings, buf, version, tables, sequences, [])
    assert restore.restore(settings, buf.getvalue()).schema_version == _merge_version() - 1
    assert store.product_names(settings) == ["SPF 50"]
    assert list(products.uses(settings)["product"]) == ["SPF 50", "SPF 50"]

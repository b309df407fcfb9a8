"""Schema: numbered migrations, each in one transaction with its record."""

import duckdb
import pytest

from skintrack.db import schema


def test_migrations_from_an_empty_file_and_again(settings):
    settings.home.mkdir(parents=True, exist_ok=True)  # resolving the home creates nothing
    con = duckdb.connect(str(settings.db_path))
    assert schema.schema_version(con) == 0
    applied = schema.migrate(con)
    assert applied == list(range(1, len(schema.MIGRATIONS) + 1))
    assert schema.migrate(con) == []  # re-running changes nothing
    recorded = con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [v for v, _ in recorded] == applied
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"entries", "scores", "lifestyle", "products", "product_use"} <= tables
    con.close()


def test_a_failing_migration_leaves_no_trace(settings, monkeypatch):
    settings.home.mkdir(parents=True, exist_ok=True)  # resolving the home creates nothing
    con = duckdb.connect(str(settings.db_path))
    schema.migrate(con)
    before = schema.schema_version(con)
    broken = [*schema.MIGRATIONS, ("broken", "CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;")]
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    with pytest.raises(duckdb.Error):
        schema.migrate(con)
    assert schema.schema_version(con) == before
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "half_done" not in tables
    con.close()

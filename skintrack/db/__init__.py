"""Storage: the DuckDB file and its migrations, entries and scores, products, the log, archives."""

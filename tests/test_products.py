"""The product catalogue and routine on a real DuckDB in a fresh home."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from skintrack import lifestyle, products, store

TODAY = date(2026, 3, 1)


def test_catalogue_add_update_and_refuse_duplicates(settings):
    pid = products.save_product(settings, "  Azelaic   acid 10% ", brand="Brand", kind="treatment", ingredients="azelaic acid")
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

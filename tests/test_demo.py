"""The demo home: separate, clearly marked, filled with a history with known answers."""

from __future__ import annotations

from datetime import date

import pytest

from skintrack import demo
from skintrack.__main__ import main
from skintrack.config import DEMO_MARKER, Settings
from skintrack.db import products, store


def test_demo_fills_a_marked_home(tmp_path, capsys):
    home = tmp_path / "demo"
    assert main(["demo", "--home", str(home), "--days", "40", "--seed", "2"]) == 0
    assert "planted" in capsys.readouterr().out
    settings = Settings.for_home(home)
    assert settings.is_demo and (home / DEMO_MARKER).exists()
    entries = store.entries(settings)
    assert 25 <= len(entries) <= 50
    assert (settings.images_dir / entries.iloc[0]["aligned_path"]).read_bytes()[:2] == b"\xff\xd8"
    assert set(store.scores(settings)["condition"]) == {"redness", "red_spots", "ita"}
    assert len(store.lifestyle(settings)) >= 30
    assert set(products.routine(settings)["product"]) == {"Gentle cleanser", demo.PLACEBO, demo.TREATMENT}
    # Running it again replaces the demo rather than adding to it.
    assert main(["demo", "--home", str(home), "--days", "20"]) == 0
    assert store.lifestyle(settings)["day"].max().date() == date.today()
    assert len(store.entries(settings)) <= 25


def test_demo_refuses_a_home_with_real_data(settings, capsys):
    store.log_day(settings, date(2026, 1, 1), {"stress": 2})
    assert main(["demo", "--home", str(settings.home)]) == 2
    assert "not a demo" in capsys.readouterr().err
    assert not settings.is_demo and store.get_day(settings, date(2026, 1, 1)) is not None


def test_generated_history_has_the_planted_effect_only_when_asked():
    with_effect, without = demo.generate(60, seed=4), demo.generate(60, seed=4, planted=False)
    assert with_effect.log.equals(without.log)
    red = with_effect.scores[(with_effect.scores["condition"] == "redness")]
    red0 = without.scores[(without.scores["condition"] == "redness")]
    assert red["value"].mean() != pytest.approx(red0["value"].mean())

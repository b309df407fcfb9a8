"""The insights command on a demo home, and its plain words."""

from __future__ import annotations

import json

import pandas as pd

from skintrack import demo
from skintrack.__main__ import main
from skintrack.stats import insights


def test_insights_json_recovers_the_planted_effects(tmp_path, capsys):
    home = tmp_path / "demo"
    assert main(["demo", "--home", str(home)]) == 0
    capsys.readouterr()
    assert main(["insights", "--home", str(home), "--json", "--bootstrap", "200"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lifestyle_tests"] > 100 and out["days_with_checkins"] > 80
    sleep = [f for f in out["findings"] if f["factor"] == "short sleep" and f["condition"] == "redness"]
    assert [f["lag"] for f in sleep] == [1]
    assert sleep[0]["low"] <= demo.PLANTED[0].effect <= sleep[0]["high"]
    assert {"factor", "lag", "condition", "region", "effect", "low", "high", "n_days", "words"} <= set(sleep[0])
    assert sleep[0]["comes_with"] == []  # the demo's habits are independent
    assert not [f for f in out["findings"] if f["factor"] in demo.NOT_PLANTED]
    treated = [p for p in out["products"] if p["product"] == demo.TREATMENT and p["condition"] == "redness"]
    assert treated and treated[0]["low"] <= demo.TREATMENT_EFFECT <= treated[0]["high"] < 0
    assert not [p for p in out["products"] if p["product"] == demo.PLACEBO]
    assert [p["product"] for p in out["not_enough_data"]] == ["Gentle cleanser"]

    assert main(["insights", "--home", str(home), "--bootstrap", "200"]) == 0
    text = capsys.readouterr().out
    assert "1 day after nights under 6 h of sleep, redness on the whole face averaged" in text
    assert "not proof of cause" in text


def test_an_empty_home_says_so(settings, capsys):
    assert main(["insights", "--home", str(settings.home)]) == 0
    assert "No check-ins yet" in capsys.readouterr().out


def test_sentence_for_a_lag_zero_finding_in_the_unit():
    row = pd.Series(
        {
            "condition": "ita",
            "region": "nose",
            "lag": 0,
            "effect": -1.5,
            "low": -2.5,
            "high": -0.5,
            "relative": float("nan"),
            "rel_low": float("nan"),
            "rel_high": float("nan"),
            "tests": 96,
            "n_days": 50,
            "n_exposed": 12,
        }
    )
    text = insights.lagged_sentence(row, "days with dairy")
    assert text.startswith("On days with dairy, skin tone on the nose averaged 1.5 degrees lower than otherwise")
    assert "95% CI 0.5-2.5 degrees" in text and "96 comparisons" in text


def test_bad_bootstrap_is_refused(settings, capsys):
    assert main(["insights", "--home", str(settings.home), "--bootstrap", "5"]) == 2
    assert "--bootstrap 5 is out of range" in capsys.readouterr().err
    assert main(["insights", "--home", str(settings.home), "--history-days", "-1"]) == 2
    assert "--history-days -1 is negative" in capsys.readouterr().err


def test_a_long_history_says_which_days_were_analysed():
    h = demo.generate(150, seed=1)
    config = insights.InsightConfig(n_boot=100, history_days=100)
    lines = insights.sentences(insights.compute(h.scores, h.log, h.routine, h.uses, config))
    assert any(line.startswith("Lifestyle effects are looked for in the last 100 days") for line in lines)
    whole = insights.InsightConfig(n_boot=100, history_days=None)
    assert not any(
        "looked for in the last" in line
        for line in insights.sentences(insights.compute(h.scores, h.log, h.routine, h.uses, whole))
    )


def test_a_short_history_says_not_enough_data_yet():
    h = demo.generate(20, seed=5)
    rep = insights.compute(h.scores, h.log, h.routine, h.uses, insights.InsightConfig(n_boot=100))
    lines = insights.sentences(rep, h.log)
    assert rep.findings.empty and rep.product_findings.empty
    assert any(line.startswith("Not enough data yet for lifestyle effects: a factor needs 28 days") for line in lines)
    assert any("not enough data yet to judge it" in line for line in lines)


def test_sentence_names_a_factor_that_travels_with_it():
    row = pd.Series(
        {
            "condition": "redness",
            "region": "face",
            "lag": 1,
            "effect": 1.0,
            "low": 0.5,
            "high": 1.5,
            "relative": 0.1,
            "rel_low": 0.05,
            "rel_high": 0.15,
            "tests": 10,
            "n_days": 40,
            "n_exposed": 10,
        }
    )
    text = insights.lagged_sentence(row, "nights under 6 h of sleep", ["days with 2+ units of alcohol"])
    assert text.startswith("1 day after nights under 6 h of sleep, redness on the whole face averaged 10% higher")
    assert text.endswith(
        "Such days often came with days with 2+ units of alcohol too, so their effects cannot be told apart."
    )


def test_report_from_duckdb_equals_the_report_from_the_scores_table(tmp_path):
    """The command and the page read daily means aggregated by DuckDB; the same history through
    pandas (``compute`` on the whole scores table) must give the very same tests and intervals,
    also where another scorer left values on older entries (only the latest source counts)."""
    from skintrack.db import products, store

    settings = demo.build(tmp_path / "demo", days=70, seed=1)
    scores = store.scores(settings)
    first = scores[(scores["condition"] == "redness")]["entry_id"].unique()[:30]
    store.add_scores(settings, [(int(e), "measure@9", "redness", "face", 10.0 + (e % 3)) for e in first])
    config = insights.InsightConfig(n_boot=200)
    got = insights.report(settings, config)
    want = insights.compute(
        store.scores(settings), store.lifestyle(settings), products.routine(settings), products.uses(settings), config
    )
    assert got.days_with_checkins == want.days_with_checkins and got.days_logged == want.days_logged
    assert got.lagged["status"].isin(["tested", "reported"]).sum() > 50
    for mine, theirs in ((got.lagged, want.lagged), (got.products, want.products), (got.changes, want.changes)):
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True), check_dtype=False)
    assert insights.sentences(got) == insights.sentences(want, store.lifestyle(settings))

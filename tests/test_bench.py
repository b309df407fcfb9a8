"""The bench command runs end to end in its quick mode and reports every figure.

No timing is asserted: the figures depend on the machine and its load.
"""

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest
from conftest import ROOT

from benchmarks import bench
from skintrack.db import measurements, store


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_bench_quick_prints_every_figure_as_json(home):
    env = {**os.environ, "SKINTRACK_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "skintrack", "bench", "--quick", "--no-app", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert set(report) >= {"machine", "model", "checkin", "trends", "import", "cold_start", "app", "memory", "targets"}
    assert report["model"]["trained"] is False and report["model"]["input_size"] == 64
    stages = report["checkin"]["stages_ms"]
    assert set(stages) == {"decode", "face", "quality_align", "measure", "classifier", "store"}
    assert set(stages["face"]) == {"median", "p95", "n"} and stages["face"]["n"] == 2
    assert {"torch_eager", "onnx_fp32", "onnx_int8", "torch_bf16_channels_last"} <= set(report["model"]["forward_ms"])
    assert report["checkin"]["checkin_over_reference"] > 0
    assert report["trends"]["1y"]["days"] == 365 and report["trends"]["1y"]["trends_ms"]["median"] > 0
    assert report["import"]["photos"] == 2 and report["import"]["cli_photos_per_s"] > 0
    assert report["cold_start"]["cli_checkin_s"]["median"] > 0
    assert report["cold_start"]["onnx_torch_imported"] is True  # the untrained stand-in is read through torch
    assert report["import"]["onnx_stored"] == 2
    assert set(report["targets"]) == set(bench.TARGETS)
    assert report["targets"]["app_peak_rss_gib"]["met"] is None  # --no-app: not measured, not "met"
    assert not (home / "skintrack.duckdb").exists()  # scratch homes only; the user's home untouched


def test_generated_history_is_one_entry_and_log_a_day(settings):
    template = [("measure@2", "redness", "face", 10.0), ("measure@2", "redness", "nose", 12.0)]
    bench.generate_history(settings, 30, template)
    scores, log = store.scores(settings), store.lifestyle(settings)
    assert len(scores) == 60 and scores["entry_id"].nunique() == 30 and len(log) == 30
    assert scores["taken_at"].min() >= datetime(2000, 1, 1)
    assert 8 < scores.loc[scores["region"] == "face", "value"].mean() < 12


def test_summary_and_verdicts():
    assert bench.summary([3.0, 1.0, 2.0]) == {"median": 2.0, "p95": 2.9, "n": 3}
    report = {
        "checkin": {"checkin_over_reference": 1.2},
        "cold_start": {"cli_checkin_s": {"median": 4.0}},
        "trends": {"10y": {"trends_ms": {"median": 150.0}, "insights_ms": None}},
        "import": {"cli_photos_per_s": 9.0},
        "app": None,
    }
    v = bench.verdicts(report)
    assert v["checkin_over_reference"]["met"] is False and v["cold_start_s"]["met"] is True
    assert v["trends_10y_ms"]["met"] is True and v["insights_10y_ms"]["met"] is None
    assert v["import_photos_per_s"]["met"] is True and v["app_peak_rss_gib"]["value"] is None


def test_duckdb_daily_scores_match_the_pandas_series(settings):
    template = [
        ("measure@2", "redness", "face", 10.0),
        ("measure@2", "redness", "nose", 12.0),
        ("measure@2", "ita", "face", 40.0),
    ]
    bench.generate_history(settings, 40, template)
    from skintrack.stats import analytics

    want = analytics.daily_series(store.scores(settings), "redness", "nose")
    got = analytics.rolling(measurements.daily_scores(settings, "redness", "nose"))
    assert len(got) == len(want) == 40
    assert (got["day"].to_numpy() == want["day"].to_numpy()).all()
    for column in ("value", "n", "rolling", "low", "high"):
        assert abs(got[column].astype(float) - want[column].astype(float)).max() < 1e-9, column
    catalogue = measurements.score_catalogue(settings)
    assert list(catalogue["n"]) == [40, 40, 40] and set(catalogue["condition"]) == {"redness", "ita"}

"""The repeatability command: perturbations, the summary statistics, the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import DATA, rgb_of

from skintrack import repeatability
from skintrack.__main__ import main
from skintrack.capture import measure


def test_planck_white_is_d65_white_at_6500_k():
    assert repeatability.planck_white(6500) == pytest.approx([1.0, 1.0, 1.0], abs=0.06)  # D65 is just off the locus
    warm, cool = repeatability.planck_white(3000), repeatability.planck_white(9000)
    assert warm[0] > warm[2] and cool[2] > cool[0]


def test_perturbations_keep_the_photo_recognisable():
    rgb = rgb_of("obama-720p.jpg")
    full = repeatability.perturbations(rgb)
    assert {p.kind for p in full} == set(repeatability.KINDS)
    assert [p.name for p in full if p.kind == "resolution"] == ["240p", "360p", "480p"]  # below the original only
    for p in full:
        out = p.apply(rgb)
        assert out.dtype == np.uint8 and out.ndim == 3
    assert np.abs(repeatability.colour_temperature(rgb, 6500).astype(int) - rgb).max() <= 1
    darker = repeatability.exposure(rgb, 0.8)
    assert darker.mean() < rgb.mean()
    quick = repeatability.perturbations(rgb, quick=True)
    assert 3 <= len(quick) < len(full)


def _trial(photo, kind, value, accepted=True):
    return repeatability.Trial(
        photo, kind, kind, accepted, [], {("redness", "face"): value, ("ita", "face"): value - 10}
    )


def test_summary_pools_the_sd_of_each_photo_and_skips_refused_versions():
    trials = [
        _trial("a", "original", 10.0),
        _trial("a", "jpeg", 12.0),
        _trial("a", "roll", 14.0),
        _trial("b", "original", 20.0),
        _trial("b", "jpeg", 20.0),
        _trial("b", "roll", 23.0),
        _trial("b", "zoom", 90.0, accepted=False),
    ]
    s = repeatability.summarise(trials)
    row = s["measurements"]["redness"]["face"]
    sd = math.sqrt((np.var([10, 12, 14], ddof=1) + np.var([20, 20, 23], ddof=1)) / 2)
    assert row["sd"] == pytest.approx(sd, abs=1e-3)
    assert row["smallest_change"] == pytest.approx(1.96 * math.sqrt(2) * sd, abs=1e-3)
    assert row["n"] == 6 and s["accepted"] == 6 and s["refused"] == ["b: zoom"]
    assert row["cv"] == pytest.approx(
        math.sqrt(((2 / 12) ** 2 + (np.std([20, 20, 23], ddof=1) / 21) ** 2) / 2), abs=1e-3
    )
    assert s["measurements"]["ita"]["face"]["cv"] is None  # signed or near zero: SD only
    assert s["rms_change_by_kind"]["redness"]["jpeg"] == pytest.approx(math.sqrt((4 + 0) / 2), abs=1e-3)
    assert "| redness | a* |" in repeatability.format_table(s)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "rep.json"
    code = main(["repeatability", str(DATA / "obama-1080p.jpg"), "--quick", "--json", "--write", str(out)])
    return code, json.loads(out.read_text())


def test_command_on_a_real_portrait(quick_run, capsys):
    code, summary = quick_run
    assert code == 0
    assert summary["photos"] == ["obama-1080p.jpg"] and summary["accepted"] >= 5
    rows = summary["measurements"]
    assert set(rows) == set(measure.CONDITIONS)
    assert rows["redness"]["face"]["cv"] < 0.05  # the target for colour
    assert rows["texture"]["face"]["cv"] < 0.10
    assert rows["ita"]["face"]["smallest_change"] > 0


def test_the_written_file_feeds_noise_band(quick_run, tmp_path):
    _, summary = quick_run
    path = tmp_path / "r.json"
    path.write_text(json.dumps(summary))
    assert measure.noise_band("redness", path=path) == pytest.approx(
        summary["measurements"]["redness"]["face"]["smallest_change"]
    )


def test_command_refuses_a_missing_photo(capsys, tmp_path):
    assert main(["repeatability", str(tmp_path / "nope.jpg")]) == 2
    assert "no such photo" in capsys.readouterr().err


def test_command_refuses_photos_without_a_face(capsys, tmp_path):
    from conftest import jpeg_bytes, no_face

    path = tmp_path / "cat.jpg"
    path.write_bytes(jpeg_bytes(no_face()))
    assert main(["repeatability", str(path), "--quick"]) == 2
    assert "no face" in capsys.readouterr().err


def test_acne_scores_of_the_shipped_model_are_pooled_like_the_measurements(capsys):
    from skintrack.model import classifier as clf

    if clf.default_path() is None:
        pytest.skip("no acne model installed")
    assert main(["repeatability", str(DATA / "obama-720p.jpg"), "--quick", "--acne", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    rows = s["measurements"]
    for cond in repeatability.ACNE_SCORES:
        assert rows[cond]["face"]["n"] == s["accepted"] and rows[cond]["face"]["sd"] >= 0
    a = s["acne_grade_agreement"]
    assert a["versions"] == s["accepted"] - 1 and 0 <= a["share_same_grade_as_original"] <= 1


def test_a_version_keeps_only_what_a_check_in_would_store():
    """A value the gate withholds (texture on a soft photo) is left out of that version alone."""
    import cv2

    soft = cv2.GaussianBlur(rgb_of("obama-1080p.jpg"), (0, 0), 6)
    kept, reasons, stored = repeatability.measure_photo(soft)
    assert kept and any("too soft" in r for r in reasons)
    assert ("redness", "face") in stored and ("texture", "face") not in stored and ("red_spots", "face") not in stored
    _, _, everything = repeatability.measure_photo(soft, stored_only=False)
    assert ("texture", "face") in everything
    assert stored.items() <= everything.items()

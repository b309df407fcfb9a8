"""tools/heldout_report.py: grouped bootstrap intervals and issue 15's targets, from per-photo
records as ``evaluate --json`` writes them."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import heldout_report as hr

from skintrack.model import modelcard


def photo(i, grade, pred, lt, lp, group=None, ita="light"):
    return {
        "image": f"images/{i}.jpg",
        "group": group,
        "grade_true": grade,
        "grade_pred": pred,
        "probs": [0.25] * 4,
        "lesions_true": lt,
        "lesions_pred": lp,
        "ita_group": ita,
        "aligned": True,
    }


def test_bootstrap_resamples_whole_groups():
    photos = [photo(i, 0, 0, 1, 1, None) for i in range(20)]
    assert hr.bootstrap(photos, ["a"] * 20, hr.accuracy, 200) == [1.0, 1.0]
    wrong = [photo(i, 0, 1 if i < 10 else 0, 1, 1, None) for i in range(20)]
    # two groups, one all wrong: a resample holds either, both or neither twice
    lo, hi = hr.bootstrap(wrong, ["a"] * 10 + ["b"] * 10, hr.accuracy, 400)
    assert lo == 0.0 and hi == 1.0


def test_report_checks_the_targets_and_writes_what_the_page_reads(tmp_path, capsys):
    acne04 = [
        photo(
            i,
            i % 2,
            i % 2 if i < 85 else 1 - i % 2,
            3 * (i % 2),
            3 * (i % 2) + 1,
            f"p{i // 2}",
            "light" if i < 50 else "brown",
        )
        for i in range(100)
    ]
    frontal = [photo(i, None, 0, i % 5, (i * 7) % 5, None, "tan" if i < 40 else "dark") for i in range(60)]
    for p in frontal:
        p.update(subset="ffhq", pose="frontal")
    a = {
        "model": "resnet50-acne@abc",
        "n": 100,
        "grouping": {"exclude_subjects_of": "train", "n_subjects": 50, "n_dropped": 10},
        "photos": acne04,
        "accuracy": 0.85,
        "mae_lesions": 1.0,
        "spearman_lesions": 0.9,
        "accuracy_from_count": 0.8,
    }
    f = {
        "model": "resnet50-acne@abc",
        "n": 60,
        "grouping": None,
        "photos": frontal,
        "mae_lesions": 2.4,
        "spearman_lesions": 0.1,
        "mean_count_error": 0.0,
        "by_column": {
            c: {"x": {"n": 60, "spearman_lesions": 0.1, "mae_lesions": 2.4, "mean_count_error": 0.0}}
            for c in ("subset", "pose")
        },
    }
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "f.json").write_text(json.dumps(f))
    out = tmp_path / "m.eval.json"
    args = hr.get_args_parser().parse_args(
        [
            str(tmp_path / "a.json"),
            str(tmp_path / "f.json"),
            "--out",
            str(out),
            "--boot",
            "100",
            "--frontal-split",
            str(tmp_path / "none.csv"),
        ]
    )
    assert hr.main(args) == 0
    fig = json.loads(out.read_text())
    t = {x["target"]: x for x in fig["acne04_new_people"]["targets"] + fig["acne_frontal"]["targets"]}
    assert t["accuracy >= 0.80"]["met"] and t["lesion MAE <= 4"]["met"]
    assert not t["lesion-count Spearman >= 0.70"]["met"] and not t["lesion MAE <= 2"]["met"]
    assert fig["acne04_new_people"]["majority_baseline_accuracy"] == 0.5
    assert fig["acne_frontal"]["resampled"].startswith("single photos")
    assert modelcard.heldout({"id": "abc"}, out)["acne04_new_people"]["n_people"] == 50
    assert "| accuracy >= 0.80 | 0.850 |" in capsys.readouterr().out
    assert fig["acne_frontal"]["frontal_in_training"] is False and "never used to train" in fig["acne_frontal"]["what"]
    # a model fine-tuned on folds 0-4, measured on the test part: recorded as such, with the command given
    args.frontal_trained, args.frontal_command = True, "evaluate --data cache/finetune/parts --split test"
    assert hr.main(args) == 0
    f2 = json.loads(out.read_text())["acne_frontal"]
    assert f2["frontal_in_training"] is True and f2["command"] == args.frontal_command
    assert "test part" in f2["what"] and "never used to train" not in f2["what"]
    a["grouping"] = None
    (tmp_path / "a.json").write_text(json.dumps(a))
    with pytest.raises(ValueError, match="exclude-subjects-of train"):
        hr.main(args)

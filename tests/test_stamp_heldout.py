"""tools/stamp_heldout.py: a fine-tuned checkpoint takes its metrics from people it was not trained on."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import stamp_heldout

from skintrack.model import acne
from skintrack.model import classifier as clf


def test_metrics_come_from_the_person_held_out_evaluation_of_this_checkpoint():
    ckpt = clf.make_checkpoint(
        clf.AcneNet("resnet50"),
        pre=clf.Preprocess(size=64),
        metrics={"accuracy": 0.8, "n": 187},
        data={"name": "ACNE04", "terms": "ACNE04 terms.", "n_train": 2191},
    )
    result = {
        "model": f"resnet50-acne@{ckpt['id']}",
        "n": 96,
        "accuracy": 0.72,
        "balanced_accuracy": 0.7,
        "grouping": {"exclude_subjects_of": "train", "n_subjects": 80},
        "by_group": {"light": {"n": 17}},
        "photos": [{}] * 96,
    }
    out = stamp_heldout.stamp(ckpt, result, frontal_train=1200)
    acne.require_measured(out, "stamped")
    assert out["metrics"]["n"] == 96 and out["metrics"]["accuracy"] == 0.72 and "photos" not in out["metrics"]
    assert out["train_selection_metrics"] == {"accuracy": 0.8, "n": 187} and out["id"] == ckpt["id"]
    assert out["data"]["n_train_acne04"] == 991 and "acne_frontal" in out["data"]["terms"]
    assert out["metrics_by_group"] == {"light": {"n": 17}}
    with pytest.raises(ValueError, match="exclude-subjects-of train"):
        stamp_heldout.stamp(ckpt, {**result, "grouping": {"sample": 300}}, 1200)
    with pytest.raises(ValueError, match="not this checkpoint"):
        stamp_heldout.stamp(ckpt, {**result, "model": "resnet50-acne@000000000000"}, 1200)

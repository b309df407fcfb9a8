"""rescore: the whole history scored again by another model, old scores kept."""

from datetime import datetime

import pytest
import torch
from conftest import photo_bytes

from skintrack import pipeline
from skintrack.__main__ import main
from skintrack.db import store
from skintrack.model import classifier as clf

SMALL = clf.Preprocess(size=64)  # a tiny input keeps the test fast; the code path is the real one
MEASURED = {"accuracy": 0.5, "balanced_accuracy": 0.4, "n": 10, "split": "valid"}


def test_rescore_adds_the_new_models_scores_and_keeps_the_old(settings, tmp_path, capsys):
    torch.manual_seed(0)
    path = clf.save(clf.make_checkpoint(clf.AcneNet("resnet50").eval(), pre=SMALL, metrics=MEASURED), tmp_path / "m.pt")
    source = clf.load(path).source
    for i, name in enumerate(["obama-1080p.jpg", "biden.jpg"]):
        pipeline.checkin(settings, photo_bytes(name), datetime(2026, 3, 1 + i, 8))
    before = store.scores(settings)

    assert main(["rescore", "--model", str(path), "--home", str(settings.home)]) == 0
    assert "scored 2 of 2 entries" in capsys.readouterr().out
    after = store.scores(settings)
    new = after[after["source"] == source]
    assert sorted(set(new["entry_id"])) == [1, 2]
    assert {"acne_grade", "lesion_count", "acne_confidence"} <= set(new["condition"])
    key = ["entry_id", "source", "condition", "region"]
    old = after[after["source"] != source].sort_values(key).reset_index(drop=True)
    assert old.equals(before.sort_values(key).reset_index(drop=True))

    assert main(["rescore", "--model", str(path), "--home", str(settings.home)]) == 0
    assert "scored 0 of 2 entries" in capsys.readouterr().out


def test_rescore_without_a_model_says_so(settings, capsys):
    if clf.default_path() is not None:
        pytest.skip("a trained model is installed, so there is no refusal to see")
    assert main(["rescore", "--home", str(settings.home)]) == 2
    assert "no trained acne model is installed" in capsys.readouterr().err

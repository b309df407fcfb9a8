"""rescore: the whole history scored again by another model, old scores kept."""

from datetime import datetime

import pytest
import torch
from conftest import cut_off, jpeg_bytes, photo_bytes, rgb_of

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

    # A photo the gate withheld the acne model from (its chin outside the photo) is never scored.
    cut, _ = cut_off(rgb_of("obama-1080p.jpg"), "bottom", 0.12)
    entry_id, _ = pipeline.checkin(settings, jpeg_bytes(cut), datetime(2026, 3, 5, 8))
    assert main(["rescore", "--model", str(path), "--home", str(settings.home)]) == 0
    out = capsys.readouterr().out
    assert "scored 0 of 3 entries" in out and "1 not scored: their photos do not support the acne model" in out
    assert entry_id not in set(store.scores(settings).query("source == @source")["entry_id"])


def test_rescore_without_a_model_says_so(settings, capsys):
    if clf.default_path() is not None:
        pytest.skip("a trained model is installed, so there is no refusal to see")
    assert main(["rescore", "--home", str(settings.home)]) == 2
    assert "no trained acne model is installed" in capsys.readouterr().err

"""The export cache: what ``prune_exports`` removes and keeps. (Exports and shipped files are
also checked through serving, in tests/test_serving.py.)"""

import pytest
from test_serving import SIZE, calibrated_model

from skintrack.model import classifier as clf
from skintrack.model import export


@pytest.fixture(scope="module")
def ckpt():
    metrics = {"accuracy": 0.5, "balanced_accuracy": 0.5, "n": 3}  # a made-up card: never shown
    return clf.make_checkpoint(calibrated_model(), pre=clf.Preprocess(size=SIZE), metrics=metrics)


def test_exports_of_models_no_longer_installed_are_removed(ckpt, tmp_path):
    path = clf.save(ckpt, tmp_path / "m.pt")
    meta, _ = export.describe(path, cache_dir=tmp_path / "onnx")
    kept = export.ensure_export(ckpt, cache_dir=tmp_path / "onnx")
    stale = [
        tmp_path / "onnx" / n
        for n in (
            "resnet50-acne-0123456789ab.v2.fp32.onnx",
            f"resnet50-acne-{ckpt['id']}.v1.fp32.onnx",
            "checkpoint-00ff.v2.json",
        )
    ]
    for f in stale:
        f.write_bytes(b"old")
    removed = export.prune_exports([meta], tmp_path / "onnx")
    assert sorted(removed) == sorted(stale) and not any(f.exists() for f in stale)
    assert kept.is_file() and (tmp_path / "onnx" / export.sidecar_name(meta["file_sha256"])).is_file()
    assert export.prune_exports([meta], tmp_path / "onnx") == []

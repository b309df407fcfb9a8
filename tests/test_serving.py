"""ONNX Runtime serving: the served export reproduces torch, is cached by checkpoint id, and the
served model has the torch classifier's API. A real ResNet-50 AcneNet on a 64 px input."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import DATA, ROOT, photo_bytes

from skintrack import pipeline
from skintrack.model import classifier as clf
from skintrack.model import export, serving

SIZE = 64  # a tiny model input keeps the export and the runs fast; the graph is the same


def calibrated_model(seed: int = 0) -> clf.AcneNet:
    """Random weights with batch-norm statistics fitted to random inputs, so activations
    have trained-like scales and a numerical comparison means something."""
    torch.manual_seed(seed)
    model = clf.AcneNet("resnet50")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(m.weight, 0.5, 1.0)
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, SIZE, SIZE))
    return model.eval()


@pytest.fixture(scope="module")
def ckpt():
    metrics = {"accuracy": 0.5, "balanced_accuracy": 0.5, "n": 3}  # a made-up card: never shown
    return clf.make_checkpoint(calibrated_model(), pre=clf.Preprocess(size=SIZE), metrics=metrics)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def served(ckpt, cache):
    return serving.from_checkpoint(ckpt, cache_dir=cache)


@pytest.fixture(scope="module")
def reference(ckpt):
    return clf.Classifier(clf.build(ckpt), ckpt)


@pytest.fixture(scope="module")
def faces():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (512, 512, 3), dtype=np.uint8) for _ in range(3)]


def test_onnx_outputs_match_torch(served, reference, faces):
    x = torch.stack([reference.preprocess(f) for f in faces])
    expected = reference.forward_batch(x)
    logits, count, density = served.forward_batch(x.numpy())
    assert logits.shape == (3, 4) and count.shape == (3,) and density.shape == (3, SIZE // 8, SIZE // 8)
    assert np.abs(expected["logits"].numpy()).max() > 0.1  # not a degenerate all-zero network
    np.testing.assert_allclose(logits, expected["logits"].numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(count, expected["count"].numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(density, expected["density"].numpy(), atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(density.sum(axis=(1, 2)), count, rtol=1e-4)  # the count is the map's sum


def test_predict_api_matches_the_torch_classifier(served, reference, faces):
    got, want = served.predict_batch(faces, batch_size=2), reference.predict_batch(faces)
    assert len(got) == 3 and isinstance(got[0], clf.Prediction)
    for g, w in zip(got, want, strict=True):
        assert g.grade == w.grade
        np.testing.assert_allclose(g.probs, w.probs, atol=1e-5)
        assert abs(g.lesions - w.lesions) < 1e-4 and abs(sum(g.probs) - 1) < 1e-6
    one = served.predict(faces[0])
    assert one.scores()[0][0] == "acne_grade" and one.grade == got[0].grade
    # Same weights, same outputs: the scores keep the checkpoint's own source.
    assert served.source == reference.source == f"resnet50-acne@{served.id}"
    assert served.card["metrics"] == reference.card["metrics"]
    assert served.card["serving"].startswith("onnxruntime")
    with pytest.raises(ValueError, match=r"\(512, 512, 3\)"):
        served.predict(np.zeros((100, 100, 3), np.uint8))


def test_numpy_preprocessing_equals_the_torch_definition(faces):
    pre = clf.Preprocess(size=SIZE, crop=(40, 20, 472, 452))
    for f in faces:
        got = serving.preprocess(f, pre)
        assert got.dtype == np.float32 and got.shape == (3, SIZE, SIZE)
        np.testing.assert_array_equal(got, clf.preprocess(f, pre).numpy())


def test_export_is_cached_by_checkpoint_id(ckpt, cache, served):
    path = export.ensure_export(ckpt, cache_dir=cache)
    assert ckpt["id"] in path.name and path.is_file()
    stamp = path.stat().st_mtime_ns
    again = serving.from_checkpoint(ckpt, cache_dir=cache)
    assert path.stat().st_mtime_ns == stamp  # reused, not exported again
    assert again.session.get_inputs()[0].shape[1:] == [3, SIZE, SIZE]
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        export.ensure_export(ckpt, "fp8", cache_dir=cache)


def test_int8_is_smaller_close_and_labelled(ckpt, cache, served, faces):
    int8 = serving.from_checkpoint(ckpt, "int8", cache_dir=cache)
    fp32_size = export.ensure_export(ckpt, cache_dir=cache).stat().st_size
    assert export.ensure_export(ckpt, "int8", cache_dir=cache).stat().st_size < fp32_size / 2
    assert int8.source == served.source + "+int8"  # a different model: never mixed with fp32 scores
    agree = serving.agreement(served, int8, faces)
    assert agree["n"] == 3 and agree["max_prob_diff"] < 0.1


def test_load_refuses_an_unmeasured_checkpoint(ckpt, tmp_path):
    unmeasured = {**ckpt, "metrics": None}
    path = clf.save(unmeasured, tmp_path / "unmeasured.pt")
    cache = tmp_path / "onnx"
    with pytest.raises(ValueError, match="no measured held-out metrics"):
        serving.load(path, cache_dir=cache)
    assert not list(cache.glob("*.onnx"))  # refused before anything was exported
    # Again, now that its metadata is cached: the torch-free path refuses it just the same.
    assert list(cache.glob("checkpoint-*.json"))
    with pytest.raises(ValueError, match="no measured held-out metrics"):
        serving.load(path, cache_dir=cache)


def test_the_refusal_reads_the_cached_metadata(ckpt, tmp_path):
    path = clf.save(ckpt, tmp_path / "model.pt")
    cache = tmp_path / "onnx"
    serving.load(path, cache_dir=cache)
    (sidecar,) = cache.glob("checkpoint-*.json")
    meta = json.loads(sidecar.read_text())
    assert meta["id"] == ckpt["id"] and meta["file_sha256"] == export.file_sha256(path)
    sidecar.write_text(json.dumps({**meta, "metrics": {"accuracy": 0.5}}))
    with pytest.raises(ValueError, match="missing balanced_accuracy, n"):
        serving.load(path, cache_dir=cache)


def other_checkpoint() -> dict:
    metrics = {"accuracy": 0.4, "balanced_accuracy": 0.4, "n": 3}
    return clf.make_checkpoint(calibrated_model(seed=1), pre=clf.Preprocess(size=SIZE), metrics=metrics)


def test_an_export_of_another_checkpoint_is_never_served(ckpt, faces, tmp_path):
    other = other_checkpoint()
    assert other["id"] != ckpt["id"]
    cache = tmp_path / "onnx"
    path = clf.save(other, tmp_path / "other.pt")
    serving.load(path, cache_dir=cache)  # sidecar and export of `other`
    # Put the export of `ckpt` where the export of `other` is looked for.
    wrong = export.ensure_export(ckpt, cache_dir=tmp_path / "elsewhere")
    shutil.copy(wrong, cache / export.export_name(other, "fp32"))
    served = serving.load(path, cache_dir=cache)
    assert serving.exported_from(served.session) == other["id"]
    want = clf.Classifier(clf.build(other), other).predict_batch(faces)
    for g, w in zip(served.predict_batch(faces), want, strict=True):
        np.testing.assert_allclose(g.probs, w.probs, atol=1e-5)
        assert abs(g.lesions - w.lesions) < 1e-4


def test_the_cached_metadata_follows_the_file_not_its_name(ckpt, tmp_path):
    cache, path = tmp_path / "onnx", tmp_path / "model.pt"
    clf.save(ckpt, path)
    assert serving.load(path, cache_dir=cache).id == ckpt["id"]
    other = other_checkpoint()
    clf.save(other, path)  # a new model under the same name
    served = serving.load(path, cache_dir=cache)
    assert served.id == other["id"] and served.card["metrics"] == other["metrics"]
    assert len(list(cache.glob("checkpoint-*.json"))) == 2


CHECKIN_CHILD = """
import json, sys
from skintrack import pipeline
from skintrack.model import serving
from skintrack.config import Settings
model = serving.load(sys.argv[1], cache_dir=sys.argv[2])
entry, analysis = pipeline.checkin(Settings.for_home(sys.argv[3]), open(sys.argv[4], "rb").read(), classifier=model)
print(json.dumps({"entry": entry, "source": model.source, "rows": [r[1] for r in analysis.scores() if r[0] == model.source],
                  "torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))}))
"""


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_a_check_in_with_a_cached_export_never_imports_torch(ckpt, tmp_path):
    path = clf.save(ckpt, tmp_path / "model.pt")
    cache = tmp_path / "onnx"
    serving.load(path, cache_dir=cache)  # the export and its sidecar, as `make setup` leaves them
    env = {**os.environ, "GLOG_minloglevel": "2"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHECKIN_CHILD,
            str(path),
            str(cache),
            str(tmp_path / "home"),
            str(DATA / "obama-720p.jpg"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["torch"] == [] and out["entry"] == 1
    assert out["source"] == f"resnet50-acne@{ckpt['id']}" and "acne_grade" in out["rows"]


CLI_CHILD = """
import json, sys
from skintrack.__main__ import main
rc = main(["checkin", sys.argv[1], "--home", sys.argv[2], "--json"])
print(json.dumps({"rc": rc, "torch": "torch" in sys.modules}))
"""


def test_a_shipped_model_file_is_the_checkpoint(ckpt, reference, faces, tmp_path):
    """One file serves without torch and gives torch back the exact checkpoint: the same
    fp16 weights and id, the same scores within 1e-5 (the issue asks 1e-3), in fp16's size."""
    path = export.ship(ckpt, tmp_path / "m.onnx")
    n_weights = sum(v.numel() for v in ckpt["state_dict"].values() if v.is_floating_point())
    assert path.stat().st_size < 2 * n_weights * 1.05  # two bytes a weight, plus the graph
    back = clf.read(path)
    assert back["id"] == ckpt["id"] and back["metrics"] == ckpt["metrics"]
    assert back["state_dict"].keys() == ckpt["state_dict"].keys()
    for k, v in ckpt["state_dict"].items():
        assert torch.equal(back["state_dict"][k], v), k
    served = serving.load(path)
    assert served.source == reference.source and not list(tmp_path.glob("*.json"))  # no sidecar, no export
    agree = serving.agreement(reference, served, faces)
    assert agree["grade_agreement"] == 1.0 and agree["max_prob_diff"] < 1e-5 and agree["max_lesion_diff"] < 1e-4
    got, want = served.predict(faces[0]), reference.predict(faces[0])
    np.testing.assert_allclose(got.density, want.density, atol=1e-5)


def test_a_shipped_file_that_was_tampered_with_is_refused(ckpt, tmp_path):
    import onnx

    path = export.ship(ckpt, tmp_path / "m.onnx")
    model = onnx.load(str(path))
    first = next(i for i in model.graph.initializer if i.name.endswith("::fp16"))
    first.raw_data = bytes(len(first.raw_data))  # zeroed weights under the same id
    onnx.save(model, str(tmp_path / "bad.onnx"))
    with pytest.raises(ValueError, match="do not match the id"):
        clf.read(tmp_path / "bad.onnx")
    plain = tmp_path / "plain.onnx"
    export.export(clf.build(ckpt), plain, SIZE)
    with pytest.raises(ValueError, match="not a skintrack model file"):
        serving.load(plain)


@pytest.mark.slow  # a subprocess (a fresh interpreter importing skintrack)
def test_the_checkin_command_never_imports_torch(home):
    if clf.default_path() is None:
        pytest.skip("no trained model is installed under models/")
    installed = serving.load_default()
    env = {**os.environ, "GLOG_minloglevel": "2"}
    done = subprocess.run(
        [sys.executable, "-c", CLI_CHILD, str(DATA / "obama-720p.jpg"), str(home)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == {"rc": 0, "torch": False}
    stored = json.loads("\n".join(lines[:-1]))
    assert installed.source in {s["source"] for s in stored["scores"]}


def test_a_check_in_scores_through_onnx_and_gradcam_uses_torch(ckpt, cache, tmp_path, settings):
    path = clf.save(ckpt, tmp_path / "model.pt")
    model = serving.load(path, cache_dir=cache)
    analysis = pipeline.analyse(photo_bytes("obama-720p.jpg"), settings, model)
    rows = [r for r in analysis.scores() if r[0] == model.source]
    assert {c for _, c, _, _ in rows} >= {"acne_grade", "lesion_count", "acne_confidence"}
    assert analysis.timings_ms["classifier"] > 0
    heat = model.gradcam(analysis.aligned.image)
    assert heat.shape == (512, 512) and 0.0 <= heat.min() and heat.max() <= 1.0

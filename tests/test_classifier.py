"""The acne model: forward pass, preprocessing, checkpoint round trip, refusal of unmeasured models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from skintrack.model import classifier as clf

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SMALL = clf.Preprocess(size=64)  # tiny input keeps a ResNet-50 pass well under a second
MEASURED = {"accuracy": 0.5, "balanced_accuracy": 0.4, "n": 10, "split": "valid"}


def faces(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (512, 512, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def model() -> clf.AcneNet:
    torch.manual_seed(0)
    return clf.AcneNet("resnet50").eval()


def test_forward_shapes_and_no_nans(model):
    x = torch.stack([clf.preprocess(f, SMALL) for f in faces(2)])
    with torch.inference_mode():
        out = model(x)
    assert out["logits"].shape == (2, 4)
    assert out["density"].shape == (2, 64 // clf.DENSITY_STRIDE, 64 // clf.DENSITY_STRIDE)
    assert out["count"].shape == (2,)
    for v in out.values():
        assert torch.isfinite(v).all()
    assert (out["density"] >= 0).all()


def test_preprocess_is_defined_once_and_checks_its_input():
    t = clf.preprocess(faces(1)[0])
    assert t.shape == (3, clf.PREPROCESS.size, clf.PREPROCESS.size) and t.dtype == torch.float32
    mean_face = np.empty((512, 512, 3), np.uint8)
    mean_face[:] = np.round(np.array(clf.IMAGENET_MEAN) * 255).astype(np.uint8)  # normalises to about zero
    assert clf.preprocess(mean_face).abs().max() < 0.01
    with pytest.raises(ValueError, match=r"\(512, 512, 3\).*\(224, 224, 3\)"):
        clf.preprocess(np.zeros((224, 224, 3), np.uint8))
    assert clf.Preprocess.from_dict(clf.PREPROCESS.as_dict()) == clf.PREPROCESS


def test_checkpoint_saves_half_precision_and_loads_to_identical_outputs(model, tmp_path):
    ckpt = clf.make_checkpoint(model, pre=SMALL, metrics=MEASURED, train_args={"epochs": 1}, data={"name": "test"})
    path = clf.save(ckpt, tmp_path / "m.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # the temporary file was renamed away
    raw = clf.read(path)
    floats = [v for v in raw["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    for key in ("arch", "heads", "class_names", "preprocess", "metrics", "train_args", "data", "version", "id"):
        assert key in raw

    a, b = clf.load(path), clf.load(path)
    assert a.source == f"resnet50-acne@{raw['id']}" and a.card["metrics"]["accuracy"] == 0.5
    assert a.pre == SMALL
    imgs = faces(3, seed=1)
    pa, pb = a.predict_batch(imgs), b.predict_batch(imgs)
    assert pa == pb
    # the loaded model is the saved one, rounded to half precision
    rounded = clf.AcneNet("resnet50")
    rounded.load_state_dict(
        {k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    )
    ref = clf.Classifier(rounded, ckpt).predict_batch(imgs)
    for p, q in zip(pa, ref, strict=True):
        np.testing.assert_allclose(p.probs, q.probs, atol=1e-6)
        assert p.lesions == pytest.approx(q.lesions, rel=1e-5)
    # one image alone gives what it gives in a batch (eval-mode BatchNorm)
    assert a.predict(imgs[0]).probs == pytest.approx(pa[0].probs, abs=1e-5)


def test_load_refuses_a_checkpoint_without_measured_metrics(model, tmp_path):
    path = clf.save(clf.make_checkpoint(model, pre=SMALL, metrics=None), tmp_path / "untrained.pt")
    with pytest.raises(ValueError, match="no measured held-out metrics"):
        clf.load(path)
    partial = clf.save(clf.make_checkpoint(model, pre=SMALL, metrics={"accuracy": 0.9}), tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="balanced_accuracy"):
        clf.load(partial)


def test_load_refuses_other_files(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        clf.load(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a skintrack acne classifier"):
        clf.load(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="'vgg16'"):
        clf.AcneNet("vgg16")


def test_prediction_and_scores():
    p = clf.Prediction(probs=[0.1, 0.6, 0.2, 0.1], grade=1, expected_grade=1.3, lesions=12.5, confidence=0.6)
    rows = {(c, r): v for c, r, v in p.scores()}
    assert rows[("acne_grade", "face")] == 1.3
    assert [rows[(f"acne_grade_p{k}", "face")] for k in range(4)] == [0.1, 0.6, 0.2, 0.1]
    assert rows[("acne_confidence", "face")] == 0.6 and rows[("lesion_count", "face")] == 12.5
    assert p.grade_name == "moderate"
    assert [clf.grade_from_count(n) for n in (0, 5, 6, 20, 21, 50, 51)] == [0, 0, 1, 1, 2, 2, 3]


def test_gradcam_is_a_unit_map_in_the_aligned_frame(model, tmp_path):
    c = clf.load(clf.save(clf.make_checkpoint(model, pre=SMALL, metrics=MEASURED), tmp_path / "m.pt"))
    heat = c.gradcam(faces(1)[0])
    assert heat.shape == (512, 512) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0


def test_default_path_is_a_file_or_none():
    path = clf.default_path()
    assert path is None or (path.is_file() and path.parent == clf.MODELS_DIR)


@pytest.mark.dataset
@pytest.mark.skipif(not (SHARED / "acne04").is_dir(), reason=f"needs the acne04 data at {SHARED / 'acne04'}")
def test_shipped_model_is_measured_and_counts_more_lesions_where_there_are_more():
    if clf.default_path() is None:
        pytest.skip("no model installed under models/")
    from skintrack.model import dataset

    c = clf.load_default()
    m = c.card["metrics"]
    assert m["split"] == "valid" and m["n"] == 283
    assert m["accuracy"] > m["majority_baseline_accuracy"]
    assert c.source.startswith("resnet50-acne@") and c.card["data"]["name"] == "ACNE04"
    rows = dataset.read_labels(SHARED / "acne04", "valid")
    rows.sort(key=lambda r: int(r["n_lesions"]))
    clear, severe = (dataset.prepare_photo(SHARED / "acne04", r) for r in (rows[0], rows[-1]))
    p_clear, p_severe = c.predict_batch([clear["image"], severe["image"]])
    assert p_severe.lesions > p_clear.lesions and p_severe.expected_grade > p_clear.expected_grade


def test_the_installed_model_serves_what_torch_computes_on_real_faces():
    """The shipped file (fp16 weights cast to fp32 as ONNX Runtime loads it) against the
    network torch rebuilds from the same file: probabilities and counts within 1e-3."""
    if clf.default_path() is None:
        pytest.skip("no model installed under models/")
    from conftest import rgb_of

    from skintrack.capture import face
    from skintrack.model import serving

    faces = []
    for name in ("obama-720p.jpg", "biden.jpg"):
        rgb = rgb_of(name)
        faces.append(face.align(rgb, face.detect(rgb)).image)
    served, reference = serving.load_default(), clf.load_default()
    assert served.source == reference.source
    agree = serving.agreement(reference, served, faces)
    assert agree["grade_agreement"] == 1.0 and agree["max_prob_diff"] < 1e-3 and agree["max_lesion_diff"] < 1e-3

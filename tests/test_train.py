"""Training and evaluation: targets, augmentation, one real optimisation step, metrics, the run command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import labelled_faces

from skintrack.capture import colour
from skintrack.model import batches, dataset, metrics, runstate, train
from skintrack.model import classifier as clf
from skintrack.model import evaluate as ev

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared" / "data"
ACNE04 = SHARED / "acne04"
needs_acne04 = pytest.mark.skipif(not ACNE04.is_dir(), reason=f"needs the acne04 data at {ACNE04}")
SMALL = clf.Preprocess(size=64)


def real_examples(pre: clf.Preprocess) -> list[dataset.Example]:
    """The redistributable test portraits, aligned as in training, with a few made-up lesion points."""
    out = []
    for k, name in enumerate(["obama-480p.jpg", "obama-720p.jpg", "biden.jpg", "obama-240p.jpg"]):
        rgb = cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)
        img, _, _ = dataset.align_or_resize(rgb)
        pts = np.array([[150.0 + 40 * i, 300.0] for i in range(3 * k)]).reshape(-1, 2)
        m = pre.matrix()
        out.append(dataset.Example(clf.crop_resize(img, pre), pts @ m[:, :2].T + m[:, 2], k, float(len(pts)), "x"))
    return out


def test_density_target_sums_to_the_points_inside():
    pts = torch.tensor(
        [[[10.0, 10.0], [30.0, 40.0], [63.0, 1.0], [-5.0, 3.0], [70.0, 20.0], [-900.0, 4e4], [20.0, 20.0]]]
    )
    valid = torch.tensor([[True, True, True, True, True, True, False]])  # the last is padding
    d = batches.density_targets(pts, valid, 64)[0].numpy()
    assert d.shape == (8, 8)
    assert d.sum() == pytest.approx(3.0, abs=1e-5)
    assert np.unravel_index(d.argmax(), d.shape) in {(1, 1), (4, 3), (0, 7)}
    assert d[1, 1] > d[2, 2]  # row y, column x: the blob at (10, 10) is in cell (1, 1)
    assert batches.density_targets(pts, torch.zeros_like(valid), 64).sum() == 0


def test_label_distribution_respects_the_order_of_grades():
    d = batches.label_distribution(1, 19.0)
    assert d.sum() == pytest.approx(1.0) and d.argmax() == 1
    assert d[2] > d[0] > 0 and d[3] < d[2]  # 19 lesions lies near the moderate/severe cut-off
    assert batches.label_distribution(3, float("nan")).tolist() == [0, 0, 0, 1]


def test_augmentation_moves_points_with_the_pixels():
    img = np.zeros((64, 64, 3), np.uint8)
    cv2.circle(img, (20, 30), 2, (255, 255, 255), -1)  # pixel (20, 30) spans [20, 21) x [30, 31)
    images = torch.from_numpy(img).permute(2, 0, 1)[None].repeat(10, 1, 1, 1)
    points = torch.tensor([[[20.5, 30.5]]]).repeat(10, 1, 1)
    out, pts = batches.augment(images, points, torch.Generator().manual_seed(3))
    assert out.shape == (10, 3, 64, 64) and 0 <= float(out.min()) and float(out.max()) <= 1
    moved = 0.0
    for k in range(10):
        grey = out[k].sum(0).numpy()
        y, x = np.unravel_index(grey.argmax(), grey.shape)
        assert np.hypot(x + 0.5 - float(pts[k, 0, 0]), y + 0.5 - float(pts[k, 0, 1])) < 2.0
        moved = max(moved, float(torch.dist(pts[k, 0], points[k, 0])))
    assert moved > 2.0  # the augmentation did move things


def test_one_training_step_changes_the_weights_and_lowers_the_loss():
    torch.manual_seed(0)
    examples = real_examples(SMALL)
    model = clf.AcneNet("resnet50").train()
    model.dropout.p = 0.0  # so the two losses are computed by the same function
    batch = batches.make_batch(batches.Tensors.of(examples, 0.4), SMALL, None)
    weights = train.class_weights([0, 1, 2, 3])
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.0)
    loss0 = train.loss_terms(model(batch["x"]), batch, weights)["loss"]
    opt.zero_grad()
    loss0.backward()
    opt.step()
    loss1 = train.loss_terms(model(batch["x"]), batch, weights)["loss"]
    assert torch.isfinite(loss0) and float(loss1.detach()) < float(loss0.detach())
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])]
    assert (
        any(k.startswith("stem.0") for k in changed) and "severity.weight" in changed and "density.3.weight" in changed
    )

    # the epoch function does the same through augmentation, and reports through the callback
    seen = []
    ema = runstate.EMA(model, 0.9)
    losses = train.train_one_epoch(
        model,
        batches.Tensors.of(examples, 0.4),
        torch.optim.AdamW(model.parameters(), 1e-4),
        None,
        pre=SMALL,
        batch_size=4,
        rng=np.random.default_rng(0),
        gen=torch.Generator().manual_seed(0),
        weights=weights,
        ema=ema,
        callback=lambda i, n, t: seen.append((i, n)),
    )
    assert seen == [(1, 1)] and np.isfinite(losses["loss"])
    # the average moved from the weights it copied towards the trained ones, not onto them
    w, e, b = model.severity.weight, ema.model.severity.weight, before["severity.weight"]
    assert 0 < float((e - b).detach().norm()) < float((w - b).detach().norm())
    metrics = train.evaluate(model, batches.Tensors.of(examples, 0.0), pre=SMALL)
    assert metrics["n"] == 4 and 0 <= metrics["accuracy"] <= 1 and "mae_lesions" in metrics


def test_photos_without_a_grade_teach_the_density_head_only():
    """acne_frontal has lesion boxes but no grade: its grade loss is masked, its density loss is not."""
    torch.manual_seed(0)
    examples = real_examples(SMALL)
    examples[3].grade = None  # 9 lesion points, no grade label
    data = batches.Tensors.of(examples, 0.4)
    assert data.grade.tolist() == [0, 1, 2, -1] and data.dist[3].sum() == 0
    weights = train.class_weights([ex.grade for ex in examples if ex.grade is not None])
    model = clf.AcneNet("resnet50").eval()
    batch = batches.make_batch(data, SMALL, None)
    out = model(batch["x"])
    graded = batches.make_batch(data.take(slice(0, 3)), SMALL, None)
    severity_graded = train.loss_terms(model(graded["x"]), graded, weights)["severity"]
    terms = train.loss_terms(out, batch, weights)
    # the severity loss is the mean over the graded photos alone
    assert float(terms["severity"]) == pytest.approx(float(severity_graded), rel=1e-5)
    out = {k: v.detach().requires_grad_(True) for k, v in out.items() if k != "features"}
    train.loss_terms(out, batch, weights)["loss"].backward()
    assert float(out["logits"].grad[3].abs().sum()) == 0 and float(out["logits"].grad[:3].abs().sum()) > 0
    density = out["density"]
    assert float(density.grad[3].abs().sum()) > 0  # its lesions still train the density map


def test_grade_metrics_on_a_small_literal_case():
    probs = [[0.9, 0.1, 0, 0], [0.2, 0.8, 0, 0], [0.1, 0.6, 0.3, 0], [0, 0, 0.3, 0.7]]
    m = metrics.grade_metrics([0, 1, 2, 3], probs, [1, 10, 30, 60], [2, 12, 25, 60])
    assert m["accuracy"] == 0.75 and m["balanced_accuracy"] == 0.75
    assert m["confusion"] == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert m["mae_lesions"] == pytest.approx((1 + 2 + 5 + 0) / 4)
    assert m["accuracy_from_count"] == 1.0
    # ECE by hand: bins (0.8,0.9] holds 0.9 (right) and 0.8 (right); (0.5,0.6]: wrong; (0.6,0.7]: right
    assert m["ece"] == pytest.approx(0.5 * abs(1 - 0.85) + 0.25 * 0.6 + 0.25 * 0.3)


def test_run_names_the_bad_value(tmp_path):
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    cases = [
        (["--arch", "vgg16"], "vgg16"),
        (["--epochs", "0"], "--epochs 0"),
        (["--size", "100"], "--size 100"),
        (["--ema", "1.5"], "--ema 1.5"),
        (["--device", "tpu"], "--device tpu"),
        (["--save-every", "0"], "--save-every 0"),
    ]
    for argv, needle in cases:
        args = parser.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "run"), *argv])
        with pytest.raises(ValueError, match=needle):
            train.run(args)
    args = parser.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "run")])
    with pytest.raises(ValueError, match="labels.csv"):
        train.run(args)
    args = parser.parse_args(["--data", str(tmp_path), "--init", "imagenet-ish"])
    model = clf.AcneNet("resnet50")
    with pytest.raises(ValueError, match="imagenet-ish"):
        runstate.init_weights(model, args.init)


@pytest.mark.dataset
@needs_acne04
def test_prepared_photo_keeps_its_lesions_in_the_aligned_frame():
    rows = [r for r in dataset.read_labels(ACNE04, "valid") if r["severity_grade"] == "3"][:1]
    item = dataset.prepare_photo(ACNE04, rows[0])
    pts = np.array(item["points"])
    assert item["image"].shape == (512, 512, 3)
    assert len(pts) == item["n_lesions"] > 20
    inside = ((pts >= 0) & (pts < 512)).all(1).mean()
    assert inside > 0.9
    assert item["ita_group"] in {name for _, name in colour.ITA_GROUPS} | {dataset.NO_FACE_GROUP}


@pytest.mark.dataset
@needs_acne04
def test_a_tiny_training_run_writes_a_measured_checkpoint(tmp_path):
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    out = tmp_path / "run"
    args = parser.parse_args(
        [
            "--data",
            str(ACNE04),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--limit",
            "4",
            "--batch-size",
            "4",
            "--size",
            "64",
            "--ema",
            "0.5",
        ]
    )
    assert train.run(args) == 0
    final = clf.load(out / "final.pt")
    assert final.card["epoch"] == 1 and final.checkpoint["selection"].startswith("last epoch")
    c = clf.load(out / "best.pt")
    assert c.card["metrics"]["n"] == 4 and c.card["data"]["name"] == "ACNE04"
    assert "academic" in c.card["data"]["terms"]
    assert (out / "last.pt").is_file() and json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1
    with pytest.raises(ValueError, match="split 'test'"):
        dataset.read_labels(ACNE04, "test")


def test_evaluate_command_prints_json_per_skin_tone_group(tmp_path, capsys):
    folder = labelled_faces(tmp_path)
    torch.manual_seed(0)
    model = clf.AcneNet("resnet50")
    ckpt = clf.save(
        clf.make_checkpoint(model, pre=SMALL, metrics={"accuracy": 0.5, "balanced_accuracy": 0.5, "n": 2}),
        tmp_path / "m.pt",
    )
    parser = argparse.ArgumentParser()
    ev.add_arguments(parser)
    assert ev.run(parser.parse_args(["--model", str(ckpt), "--data", str(folder), "--json"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 2 and {"accuracy", "balanced_accuracy", "macro_f1", "ece", "mae_lesions", "confusion"} <= set(
        out
    )
    assert sum(g["n"] for g in out["by_group"].values()) == 2
    assert set(out["by_group"]) <= {name for _, name in colour.ITA_GROUPS}  # both faces found, tone measured
    with pytest.raises(ValueError, match="split 'valid' not in"):
        ev.run(parser.parse_args(["--model", str(ckpt), "--data", str(folder), "--split", "valid"]))

"""evaluate: every photo's prediction, lesion-count agreement, count-only folders, people
held out by subject, and the acne-lesion classes of a YOLO folder."""

from __future__ import annotations

import argparse
import json
import math

import pytest
import torch
from conftest import DATA, SHARED, labelled_faces

from skintrack.model import classifier as clf
from skintrack.model import dataset, lesions, metrics
from skintrack.model import evaluate as ev

SMALL = clf.Preprocess(size=64)
ACNE04 = SHARED / "acne04"
FRONTAL = SHARED / "acne_frontal"


def small_model(tmp_path):
    torch.manual_seed(0)
    return clf.save(
        clf.make_checkpoint(
            clf.AcneNet("resnet50"), pre=SMALL, metrics={"accuracy": 0.5, "balanced_accuracy": 0.5, "n": 2}
        ),
        tmp_path / "m.pt",
    )


def evaluate_json(capsys, *argv) -> dict:
    parser = argparse.ArgumentParser()
    ev.add_arguments(parser)
    assert ev.run(parser.parse_args([*map(str, argv), "--json"])) == 0
    return json.loads(capsys.readouterr().out)


def folder_of(root, header: str, rows: list[tuple], subjects: list[tuple] | None = None):
    """An acne04-format folder of test portraits: ``rows`` are (file in tests/data, *values)."""
    folder = root / "data"
    (folder / "images").mkdir(parents=True)
    lines = [header]
    for name, *values in rows:
        (folder / "images" / name).write_bytes((DATA / name).read_bytes())
        lines.append(",".join([f"images/{name}", *map(str, values)]))
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    if subjects is not None:
        (folder / "subjects.csv").write_text("acne04_id,subject\n" + "".join(f"{a},{b}\n" for a, b in subjects))
    return folder


def test_json_lists_every_photo_with_its_counts_per_region_and_half_face(tmp_path, capsys):
    out = evaluate_json(capsys, "--model", small_model(tmp_path), "--data", labelled_faces(tmp_path))
    assert out["n"] == out["n_graded"] == out["n_counted"] == 2
    assert {"accuracy", "mae_lesions", "spearman_lesions", "mean_count_error"} <= set(out)
    assert out["spearman_lesions"] is None  # two photos: no rank correlation
    photos = {p["image"]: p for p in out["photos"]}
    assert set(photos) == {"images/obama-480p.jpg", "images/biden.jpg"}
    biden = photos["images/biden.jpg"]
    assert biden["grade_true"] == 1 and biden["lesions_true"] == 3 and biden["ita_group"] != dataset.NO_FACE_GROUP
    assert 0 <= biden["grade_pred"] <= 3 and math.isclose(sum(biden["probs"]), 1, abs_tol=1e-3)
    regions = biden["regions_pred"]
    assert set(regions) == set(lesions.COUNT_REGIONS) | set(lesions.HALVES)
    # the two halves split the whole frame, so together they hold the whole count
    assert math.isclose(regions["left_half"] + regions["right_half"], biden["lesions_pred"], rel_tol=1e-3)
    assert sum(regions[r] for r in lesions.COUNT_REGIONS) < biden["lesions_pred"]
    assert biden["regions_true"] is None  # no lesion boxes in this folder


def test_a_folder_with_counts_only_is_measured_on_count_agreement(tmp_path, capsys):
    folder = folder_of(
        tmp_path,
        "image,source,n_lesions",
        [("obama-480p.jpg", "a", 0), ("biden.jpg", "b", 4), ("obama-720p.jpg", "a", 1)],
    )
    out = evaluate_json(capsys, "--model", small_model(tmp_path), "--data", folder, "--by", "source")
    assert out["n"] == out["n_counted"] == 3 and out["n_graded"] == 0
    assert "accuracy" not in out and "confusion" not in out
    assert out["spearman_lesions"] is None or -1 <= out["spearman_lesions"] <= 1
    assert {k: v["n"] for k, v in out["by_column"]["source"].items()} == {"a": 2, "b": 1}
    assert [p["grade_true"] for p in out["photos"]] == [None, None, None]
    report = ev.format_report(out)
    assert "grade accuracy not measured" in report and "by source:" in report


def test_count_metrics_rank_and_error():
    m = metrics.count_metrics([0, 2, 5, math.nan, 9], [1.5, 1, 7, 100, 8])
    assert m["n_counted"] == 4  # the unlabelled photo is skipped
    assert m["spearman_lesions"] == pytest.approx(0.8)  # ranks 2,1,3,4 against 1,2,3,4: 1 - 6 * 2 / (4 * 15)
    assert m["mae_lesions"] == pytest.approx((1.5 + 1 + 2 + 1) / 4)
    assert m["mean_count_error"] == pytest.approx((1.5 - 1 + 2 - 1) / 4)


def test_people_of_train_are_left_out_of_valid(tmp_path, capsys):
    folder = folder_of(
        tmp_path,
        "image,split,acne04_id,severity_grade,n_lesions",
        [
            ("obama-480p.jpg", "train", "a.jpg", 0, 1),
            ("obama-720p.jpg", "valid", "b.jpg", 0, 2),
            ("biden.jpg", "valid", "c.jpg", 1, 8),
        ],
        subjects=[("a.jpg", "obama"), ("b.jpg", "obama"), ("c.jpg", "biden")],
    )
    out = evaluate_json(
        capsys, "--model", small_model(tmp_path), "--data", folder, "--split", "valid", "--exclude-subjects-of", "train"
    )
    assert [(p["image"], p["group"]) for p in out["photos"]] == [("images/biden.jpg", "biden")]
    assert out["grouping"] == {"exclude_subjects_of": "train", "n_before": 2, "n_dropped": 1, "n_subjects": 1}
    (folder / "subjects.csv").unlink()
    with pytest.raises(ValueError, match="subjects.csv"):
        ev.evaluate_model(clf.load(tmp_path / "m.pt"), folder, "valid", exclude_subjects="train")


def test_labels_need_a_grade_or_a_count(tmp_path):
    folder = folder_of(tmp_path, "image,severity_grade,n_lesions", [("biden.jpg", "", "")])
    with pytest.raises(ValueError, match="neither severity_grade nor n_lesions"):
        dataset.read_labels(folder)
    (folder / "labels.csv").write_text("image,n_lesions\nimages/biden.jpg,many\n")
    with pytest.raises(ValueError, match="n_lesions 'many'"):
        dataset.read_labels(folder)


@pytest.mark.dataset
@pytest.mark.skipif(not ACNE04.is_dir(), reason=f"needs the acne04 data at {ACNE04}")
def test_acne04_valid_holds_96_photos_of_people_not_in_train():
    rows = dataset.read_labels(ACNE04)
    assert all(r["subject"] for r in rows)
    kept, note = dataset.exclude_subjects_of(dataset.read_labels(ACNE04, "valid"), rows, "train")
    assert note["n_before"] == 283 and note["n_dropped"] == 187 and len(kept) == 96
    train_people = {r["subject"] for r in rows if r["split"] == "train"}
    assert not {r["subject"] for r in kept} & train_people


@pytest.mark.dataset
@pytest.mark.skipif(not FRONTAL.is_dir(), reason=f"needs the acne_frontal data at {FRONTAL}")
def test_acne_frontal_lesions_are_its_acne_and_pimple_boxes():
    rows = dataset.read_labels(FRONTAL)[:40]
    assert dataset.lesion_classes(FRONTAL) == {0, 1}  # acne, pimple; not spot, mole, scar
    for r in rows:
        pts = dataset.lesion_centres(FRONTAL, r["image"], 100, 100)
        assert (0 if pts is None else len(pts)) == int(r["n_lesions"]), r["image"]


def test_a_seeded_sample_of_the_photos(tmp_path):
    folder = folder_of(tmp_path, "image,n_lesions", [("obama-480p.jpg", 0), ("biden.jpg", 4), ("obama-720p.jpg", 1)])
    model = clf.load(small_model(tmp_path))
    a, b = (ev.evaluate_model(model, folder, sample=2, seed=1) for _ in range(2))
    assert a["n"] == 2 and a["grouping"] == {"sample": 2, "sample_of": 3, "seed": 1}
    assert [p["image"] for p in a["photos"]] == [p["image"] for p in b["photos"]]
    with pytest.raises(ValueError, match="at least one photo"):
        ev.evaluate_model(model, folder, sample=0)

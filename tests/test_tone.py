"""Skin-tone re-rendering: the colour maths, the tone the app then measures, the training
augmentation and the paired skin-tone test of ``evaluate --tone-shift``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import labelled_faces

from skintrack.capture import colour, face
from skintrack.model import acne, batches, dataset, tone, train
from skintrack.model import classifier as clf
from skintrack.model import evaluate as ev

DATA = Path(__file__).resolve().parent / "data"


def portrait(name: str = "biden.jpg") -> tuple[np.ndarray, np.ndarray]:
    rgb = cv2.cvtColor(cv2.imread(str(DATA / name)), cv2.COLOR_BGR2RGB)
    img, _, lm = dataset.align_or_resize(rgb)
    assert lm is not None
    return img, lm


def test_lab_conversion_matches_opencv_and_inverts():
    rgb = np.random.default_rng(0).integers(0, 256, (1, 40, 40, 3), dtype=np.uint8)
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0
    lab = tone.srgb_to_lab(x)
    ref = cv2.cvtColor(rgb[0].astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    assert np.abs(lab[0].permute(1, 2, 0).numpy() - ref).max() < 0.5
    assert (tone.lab_to_srgb(lab) - x).abs().max() < 1e-3


def test_shift_tone_moves_the_skin_to_the_ita_asked_for():
    img, lm = portrait()
    skin = face.face_mask(lm)
    for ita in (30.0, 0.0, -45.0):
        assert abs(tone.image_ita(tone.shift_image(img, ita, skin), skin) - ita) < 3


@pytest.mark.parametrize(
    ("name", "ita", "group"),
    [("obama-720p.jpg", 0.0, "brown"), ("obama-720p.jpg", -45.0, "dark"), ("biden.jpg", 20.0, "tan")],
)
def test_a_reshaded_face_is_measured_by_the_app_in_the_group_asked_for(name, ita, group):
    img, lm = portrait(name)
    before, _ = dataset.skin_tone(img, lm)
    shifted, measured = ev.reshade(img, lm, ita)
    assert abs(measured - ita) < 2 and colour.ita_group(measured) == group, (before, measured)
    assert dataset.skin_tone(shifted, lm)[0] == pytest.approx(measured)
    assert abs(before - ita) > 10  # it did move


def test_the_cheek_box_reference_is_close_to_the_skin_mask():
    img, lm = portrait("obama-720p.jpg")
    lab = tone.srgb_to_lab(tone.as_batch(img))
    skin = torch.from_numpy(face.face_mask(lm))[None]
    l_box, b_box = tone.skin_reference(lab)
    l_mask, b_mask = tone.skin_reference(lab, skin)
    assert abs(float(l_box - l_mask)) < 6 and abs(float(b_box - b_mask)) < 4


def test_tone_augmentation_darkens_some_images_and_keeps_the_points():
    img, _ = portrait()
    images = torch.from_numpy(np.stack([img] * 8)).permute(0, 3, 1, 2).contiguous()
    points = torch.tensor([[[200.0, 300.0]]]).expand(8, 1, 2).contiguous()
    plain, p0 = batches.augment(images, points, torch.Generator().manual_seed(3))
    toned, p1 = batches.augment(images, points, torch.Generator().manual_seed(3), tone=1.0)
    assert torch.equal(p0, p1)  # the geometry draws come first: the same crop and points
    lightness = tone.skin_reference(tone.srgb_to_lab(toned))[0]
    assert lightness.min() < tone.skin_reference(tone.srgb_to_lab(plain))[0].min() - 5
    again, _ = batches.augment(images, points, torch.Generator().manual_seed(3), tone=1.0)
    assert torch.equal(again, toned)


def test_training_refuses_a_tone_share_outside_0_1(tmp_path):
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(["--data", str(tmp_path), "--tone-aug", "1.5"])
    with pytest.raises(ValueError, match="--tone-aug 1.5"):
        train.run(args)


@pytest.mark.slow
def test_evaluate_tone_shift_grades_each_photo_at_each_tone(tmp_path, capsys):
    folder = labelled_faces(tmp_path)
    torch.manual_seed(0)
    ckpt = clf.save(
        clf.make_checkpoint(
            clf.AcneNet("resnet50"),
            pre=clf.Preprocess(size=64),
            metrics={"accuracy": 0.5, "balanced_accuracy": 0.5, "n": 2},
        ),
        tmp_path / "m.pt",
    )
    parser = argparse.ArgumentParser()
    ev.add_arguments(parser)
    assert (
        ev.run(parser.parse_args(["--model", str(ckpt), "--data", str(folder), "--tone-shift", "0,-45", "--json"])) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 2 and list(out["by_tone"]) == ["as is", "ITA +0", "ITA -45"]
    assert out["by_tone"]["as is"]["grade_unchanged"] == 1.0
    assert out["by_tone"]["ITA +0"]["measured_groups"] == {"brown": 2}
    assert out["by_tone"]["ITA -45"]["measured_groups"] == {"dark": 2}
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--data", str(folder), "--tone-shift", "dark"])
    assert exit_info.value.code == 2
    assert "ITA angles" in capsys.readouterr().err


def tone_card(dark_accuracy: float) -> dict:
    def m(acc, change, groups):
        return {"n": 241, "accuracy": acc, "mean_count_change": change, "measured_groups": groups}

    return {
        "metrics_by_tone": {
            "by_tone": {
                "as is": m(0.81, 0.0, {"light": 61, "tan": 50}),
                "ITA +0": m(0.80, 0.3, {"brown": 241}),
                "ITA -45": m(dark_accuracy, -1.4, {"dark": 240, "brown": 1}),
            }
        }
    }


def test_tone_note_quotes_the_test_at_the_faces_own_tone():
    text, worse = acne.tone_note(tone_card(0.70), -40.0)
    assert worse and "measured dark (ITA -40 degrees)" in text
    assert "70.0% of them correctly, against 81.0%" in text and "-1.4" in text and "extra caution" in text
    text, worse = acne.tone_note(tone_card(0.70), 5.0)
    assert not worse and "measured brown" in text and "80.0%" in text and "caution" not in text
    assert acne.tone_note(tone_card(0.79), -40.0)[1] is False  # within 5 points: no warning
    assert acne.tone_note(tone_card(0.70), 45.0) is None  # light skin: ACNE04 has plenty
    assert acne.tone_note(tone_card(0.70), None) is None
    assert acne.tone_note({}, -40.0) is None  # a model shipped without the test says nothing

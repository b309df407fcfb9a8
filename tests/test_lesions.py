"""lesions: counts per region and half face, from a density map and from labelled points, on a
real aligned face."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import rgb_of

from skintrack.capture import face
from skintrack.model import lesions
from skintrack.model.acne import Preprocess

PRE = Preprocess(size=384)  # the shipped model's input: a 48 x 48 density map


@pytest.fixture(scope="module")
def landmarks() -> np.ndarray:
    rgb = rgb_of("obama-480p.jpg")
    return face.align(rgb, face.detect(rgb)).landmarks


def centre(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(np.median(xs)), float(np.median(ys))


def test_a_lesion_in_the_left_cheek_counts_there_and_on_the_left_half(landmarks):
    masks = lesions.masks(landmarks)
    x, y = centre(masks["left_cheek"])
    assert x > lesions.midline_x(landmarks)  # the subject's left is the right of the photo
    density = np.zeros((48, 48))
    density[int(y * 48 / 512), int(x * 48 / 512)] = 1.0  # one lesion in the cell under that point
    counts = lesions.density_counts(density, landmarks, PRE)
    assert counts["left_cheek"] > 0.9 and counts["left_half"] == pytest.approx(1.0)
    assert counts["right_half"] == 0 and counts["right_cheek"] == counts["forehead"] == 0
    points = lesions.point_counts([(x, y), (-40.0, 9000.0)], landmarks)  # the second lies outside the frame
    assert points == {
        "forehead": 0,
        "left_cheek": 1,
        "right_cheek": 0,
        "nose": 0,
        "chin": 0,
        "right_half": 0,
        "left_half": 1,
    }


def test_halves_hold_the_whole_count_and_regions_part_of_it(landmarks):
    density = np.random.default_rng(0).random((48, 48)) / 100
    counts = lesions.density_counts(density, landmarks, PRE)
    assert counts["left_half"] + counts["right_half"] == pytest.approx(density.sum())
    uniform = lesions.density_counts(np.full((48, 48), 1 / 48**2), landmarks, PRE)  # one lesion spread evenly
    masks = lesions.masks(landmarks)
    for r in lesions.COUNT_REGIONS:  # a region's share of an even spread is its share of the frame
        assert uniform[r] == pytest.approx(masks[r].mean(), rel=1e-3)
    no_face = lesions.density_counts(density, None, PRE)  # no landmarks: halves only, split at the centre
    assert set(no_face) == set(lesions.HALVES)
    assert no_face["right_half"] == pytest.approx(density[:, :24].sum())


def test_grade_comes_from_the_half_face_with_more_lesions():
    assert lesions.grade_from_halves({"left_half": 3.0, "right_half": 30.0}) == 2
    assert lesions.grade_from_halves({"left_half": 4.0, "right_half": 4.0}) == 0  # 8 on the face, 4 a half: mild
    rows = lesions.scores({"forehead": 1.5, "left_half": 2.0})
    assert rows == [("lesion_count", "forehead", 1.5), ("lesion_count", "left_half", 2.0)]
    with pytest.raises(ValueError, match="density map"):
        lesions.density_counts(np.zeros((1, 48, 48)), None)


def test_the_served_models_density_map_gives_its_count_per_half_and_region(landmarks):
    """The shipped ONNX model (no torch) returns its density map with each prediction; the
    half faces of that map add up to its count."""
    from skintrack.model import acne, serving

    if acne.default_path() is None:
        pytest.skip("no model installed under models/")
    model = serving.load(acne.default_path())
    rgb = rgb_of("obama-480p.jpg")
    pred = model.predict(face.align(rgb, face.detect(rgb)).image)
    counts = lesions.density_counts(pred.density, landmarks, model.pre)
    assert counts["left_half"] + counts["right_half"] == pytest.approx(pred.lesions, rel=1e-4)
    assert 0 <= sum(counts[r] for r in lesions.COUNT_REGIONS) < pred.lesions

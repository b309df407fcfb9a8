"""The red-spot finder against scikit-image's peak finder, on smooth fields and on a real face."""

import cv2
import numpy as np
import pytest
from conftest import rgb_of

from skintrack.capture import colour, face, filters


@pytest.fixture(scope="module")
def portrait():
    """obama-720p aligned: (aligned rgb, masks)."""
    rgb = rgb_of("obama-720p.jpg")
    aligned = face.align(rgb, face.detect(rgb))
    return aligned.image, face.region_masks(aligned.landmarks)


@pytest.mark.parametrize("seed", range(6))
def test_local_maxima_are_scikit_images_peaks(seed):
    """The OpenCV peak finder that replaced scikit-image (a dev tool only) finds the same
    points on smooth fields, plateaus included."""
    feature = pytest.importorskip("skimage.feature")
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(size=(160, 200)), (0, 0), 1.0 + seed / 2)
    if seed % 2:
        field = np.round(field * 4) / 4  # flat tops: neighbouring equal maxima
    ours = {tuple(p) for p in filters.local_maxima(field, 5, 0.05)}
    theirs = {tuple(p) for p in feature.peak_local_max(field, min_distance=5, threshold_abs=0.05, exclude_border=False)}
    assert ours == theirs and len(ours) > 10


def test_red_spots_on_a_real_face_are_scikit_images_peaks(portrait):
    feature = pytest.importorskip("skimage.feature")
    aligned, masks = portrait
    maps = colour.skin_maps(aligned, masks)
    response = filters.spot_map(maps.lab, maps.clean)
    response = np.where(filters.shrunk(maps.clean, 2), response, 0.0)
    theirs = feature.peak_local_max(
        response, min_distance=filters.SPOT_MIN_DISTANCE, threshold_abs=filters.SPOT_MIN_CONTRAST, exclude_border=False
    )
    assert {tuple(p) for p in filters.red_spots(maps.lab, maps.clean)} == {tuple(p) for p in theirs}

"""The image filters the measurements read skin through: smoothing over the skin alone, the
texture band, and red-spot detection (a difference of Gaussians on a*, then its local maxima).

Sizes are in pixels of the 512x512 aligned frame (1 mm ~ 2.3 px).
"""

from __future__ import annotations

import cv2
import numpy as np

# Texture: every photo is first blurred to the sharpness of the smallest face the quality
# gate accepts (60 px between the eyes: one photo pixel ~ 3.4 aligned px), so a sharper
# camera does not read as rougher skin; then the band between Gaussians of 4 and 8 px (about
# 2 and 4 mm) is taken.
TEXTURE_PREBLUR = 3.5
TEXTURE_SIGMAS = (4.0, 8.0)
SPOT_SIGMAS = (2.0, 8.0)  # px: the lesion scale against its surroundings
SPOT_MIN_CONTRAST = 3.0  # a* units above the surroundings
SPOT_MIN_DISTANCE = 5  # px between two spots


def smooth(x: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``x`` over the pixels where ``weight`` > 0 (normalised convolution)."""
    w = weight.astype(np.float32)
    num = cv2.GaussianBlur(x.astype(np.float32) * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-6)


def texture_band(lightness: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """L* in the texture band (2-4 mm), after bringing every photo to the same sharpness."""
    base = smooth(lightness, clean, TEXTURE_PREBLUR)
    fine = smooth(base, clean, TEXTURE_SIGMAS[0])
    coarse = smooth(base, clean, TEXTURE_SIGMAS[1])
    return fine - coarse


def shrunk(mask: np.ndarray, px: int) -> np.ndarray:
    """The mask shrunk by ``px``, so filters do not see the region's edge."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def spot_map(lab: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """a* of lesion-sized bumps above their surroundings (difference of Gaussians on a*)."""
    a_star = lab[..., 1]
    return smooth(a_star, clean, SPOT_SIGMAS[0]) - smooth(a_star, clean, SPOT_SIGMAS[1])


def local_maxima(response: np.ndarray, min_distance: int, threshold: float) -> np.ndarray:
    """(N, 2) row, col of the local maxima of ``response`` above ``threshold``, strongest first,
    no two closer than ``min_distance`` (Chebyshev): the same points as scikit-image's
    ``peak_local_max(..., exclude_border=False)`` (a test holds them equal), on OpenCV."""
    size = 2 * min_distance + 1
    peak = cv2.dilate(response, np.ones((size, size), np.uint8))
    candidates = response == peak
    if candidates.all():  # a flat image has no peak
        return np.zeros((0, 2), int)
    rows, cols = np.nonzero(candidates & (response > threshold))
    order = np.argsort(-response[rows, cols], kind="stable")
    rows, cols = rows[order], cols[order]
    keep = np.ones(len(rows), bool)
    for i in range(len(rows)):  # plateaus give neighbouring equal maxima: keep the first
        if keep[i]:
            keep[i + 1 :] &= (np.abs(rows[i + 1 :] - rows[i]) >= min_distance) | (
                np.abs(cols[i + 1 :] - cols[i]) >= min_distance
            )
    return np.stack([rows[keep], cols[keep]], axis=1)


def red_spots(lab: np.ndarray, clean: np.ndarray, min_contrast: float = SPOT_MIN_CONTRAST) -> np.ndarray:
    """(N, 2) row, col of red spots: local maxima of ``spot_map`` at least ``min_contrast`` a* high."""
    response = spot_map(lab, clean)
    inside = shrunk(clean, 2)
    response = np.where(inside, response, 0.0)
    if not inside.any():
        return np.zeros((0, 2), int)
    return local_maxima(response, SPOT_MIN_DISTANCE, min_contrast)

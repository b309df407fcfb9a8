"""Lesion counts per face region and per half face, from the model's density map.

The acne model's density head (``classifier.AcneNet``) gives lesions per cell on a stride-8
grid over the model input, which is a crop of the aligned face (``acne.Preprocess.crop``).
A region's count is the density summed over the cells, each weighted by the share of its
area that the region's mask (``face.region_masks``, aligned frame) covers; the same rule
counts labelled lesion points (in the aligned frame) for the truth.

Hayashi's grade counts lesions on half of the face. An ACNE04 photo shows one cheek; a
frontal selfie shows both, so the grade of a frontal face is taken from the half with more
lesions (``grade_from_halves``), which grades a side view and a frontal view of the same
skin alike. The half faces split the aligned frame at the face's midline (the line through
the nose bridge and the chin; the frame's centre where no face was found).
"""

from __future__ import annotations

import cv2
import numpy as np

from skintrack.model.acne import PREPROCESS, Preprocess, grade_from_count

# Regions counted: the measurement regions that hold skin where acne grows (the under-eye
# bands are left out: too thin for a stride-8 map, and acne there is rare).
COUNT_REGIONS = ("forehead", "left_cheek", "right_cheek", "nose", "chin")
HALVES = ("right_half", "left_half")  # the subject's own sides, as in ``face.REGIONS``


def midline_x(landmarks: np.ndarray | None, size: int = 512) -> float:
    """x of the face's midline in the aligned frame (mean of nose bridge and chin)."""
    if landmarks is None:
        return size / 2
    from skintrack.capture import face

    return float((landmarks[face.NOSE_BRIDGE, 0] + landmarks[face.CHIN, 0]) / 2)


def masks(landmarks: np.ndarray | None, size: int = 512) -> dict[str, np.ndarray]:
    """Boolean masks (aligned frame) of the counted regions (only with landmarks) and of the
    two half faces (the whole frame either side of the midline)."""
    out: dict[str, np.ndarray] = {}
    if landmarks is not None:
        from skintrack.capture import face

        regions = face.region_masks(landmarks, size)
        out.update({name: regions[name] for name in COUNT_REGIONS})
    xs = np.arange(size)[None, :] + 0.5
    mid = midline_x(landmarks, size)
    # The subject's right is the left of an unmirrored photo (``face``'s convention).
    out["right_half"] = np.broadcast_to(xs < mid, (size, size))
    out["left_half"] = np.broadcast_to(xs >= mid, (size, size))
    return out


def cell_shares(mask: np.ndarray, shape: tuple[int, int], pre: Preprocess = PREPROCESS) -> np.ndarray:
    """The share (0-1) of each density cell's area covered by ``mask`` (aligned frame)."""
    x0, y0, x1, y1 = pre.crop
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.float32)
    return cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def density_counts(density: np.ndarray, landmarks: np.ndarray | None, pre: Preprocess = PREPROCESS) -> dict[str, float]:
    """Estimated lesions per region and per half face from one face's density map (H, W)."""
    d = np.asarray(density, np.float64)
    if d.ndim != 2:
        raise ValueError(f"expected one face's density map (H, W), got shape {d.shape}")
    return {
        name: float((d * cell_shares(m, d.shape, pre)).sum()) for name, m in masks(landmarks, pre.aligned_size).items()
    }


def point_counts(points, landmarks: np.ndarray | None, size: int = 512) -> dict[str, int] | None:
    """Labelled lesions per region and per half face: points (x, y) in the aligned frame that
    fall inside each mask (points outside the frame count for no region). None for None."""
    if points is None:
        return None
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    ij = np.floor(pts).astype(int)
    inside = (ij[:, 0] >= 0) & (ij[:, 0] < size) & (ij[:, 1] >= 0) & (ij[:, 1] < size)
    ij = ij[inside]
    return {name: int(m[ij[:, 1], ij[:, 0]].sum()) for name, m in masks(landmarks, size).items()}


def grade_from_halves(counts: dict[str, float]) -> int:
    """Hayashi's grade of the half face with more lesions."""
    return grade_from_count(max(counts[h] for h in HALVES))


def scores(counts: dict[str, float]) -> list[tuple[str, str, float]]:
    """(condition, region, value) rows for the scores table: ``lesion_count`` per region."""
    return [("lesion_count", name, float(v)) for name, v in counts.items()]

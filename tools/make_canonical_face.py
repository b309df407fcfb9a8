"""Make skintrack/capture/canonical_face.npy: the fixed face that alignment fits every photo onto.

The mesh of two public-domain frontal portraits (tests/data/obama-1080p.jpg, biden.jpg),
Procrustes-averaged, made left-right symmetric (each point averaged with its mirror twin),
then placed in the 512x512 aligned frame: forehead-top landmark (10) to chin (152) spans
80% of the frame height, centred, with the face's midline vertical at x = 256.

Run: .venv/bin/python tools/make_canonical_face.py
"""

from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from skintrack.capture.face import CANONICAL_PATH, CHIN, FOREHEAD_TOP, N_MESH, FaceMesh, similarity_fit

ROOT = Path(__file__).resolve().parent.parent
PORTRAITS = ["tests/data/obama-1080p.jpg", "tests/data/biden.jpg"]


def mesh_of(path: Path, mesh: FaceMesh) -> np.ndarray:
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    (pts,) = mesh.landmarks(rgb)
    return pts[:N_MESH]


def apply(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    scale = np.hypot(matrix[0, 0], matrix[1, 0])
    xy = pts[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    return np.column_stack([xy, pts[:, 2] * scale])


def upright(pts: np.ndarray) -> np.ndarray:
    """Rotate and centre so that the forehead-to-chin line is vertical through x = 0."""
    top, chin = pts[FOREHEAD_TOP, :2], pts[CHIN, :2]
    angle = np.arctan2(chin[0] - top[0], chin[1] - top[1])
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    xy = (pts[:, :2] - (top + chin) / 2) @ rot.T
    return np.column_stack([xy, pts[:, 2]])


def main() -> None:
    mesh = FaceMesh()
    faces = [upright(mesh_of(ROOT / p, mesh)) for p in PORTRAITS]
    ref = faces[0]
    aligned = [apply(similarity_fit(f[:, :2], ref[:, :2]), f) for f in faces]
    mean = upright(np.mean(aligned, axis=0))
    mirrored = mean * np.array([-1.0, 1.0, 1.0])
    cost = ((mirrored[:, None, :2] - mean[None, :, :2]) ** 2).sum(-1)
    twin = linear_sum_assignment(cost)[1]  # one-to-one: each point's mirror twin
    ok = twin[twin] == np.arange(N_MESH)
    print(f"mirror twins found for {ok.sum()} of {N_MESH} landmarks")
    # Points without a clear twin keep their averaged position.
    sym = np.where(ok[:, None], (mean + mirrored[twin]) / 2, mean)
    height = sym[CHIN, 1] - sym[FOREHEAD_TOP, 1]
    scale = 0.80 * 512 / height
    out = sym * scale
    out[:, 0] += 256
    out[:, 1] += 256 - (out[CHIN, 1] + out[FOREHEAD_TOP, 1]) / 2 + 6
    out[:, 2] -= out[:, 2].mean()
    np.save(CANONICAL_PATH, out.astype(np.float64))
    print(
        f"wrote {CANONICAL_PATH}: x {out[:, 0].min():.0f}-{out[:, 0].max():.0f}, y {out[:, 1].min():.0f}-{out[:, 1].max():.0f}"
    )


if __name__ == "__main__":
    main()

"""Face landmarks, head pose, alignment and region masks (the photo-quality gate is in quality.py).

MediaPipe's face mesh (478 landmarks with ``refine_landmarks=True``) runs in static-image
mode. Alignment is a least-squares similarity fit (Umeyama 1991) of the 468 mesh points
onto a fixed canonical face (``canonical_face.npy``: the mirror-symmetrised mesh of two
public-domain frontal portraits, made by ``tools/make_canonical_face.py``). Fitting all
points rather than the two eye centres halves the jitter of the aligned face across
photo resolutions (see tests/test_face.py).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from mediapipe.python.solutions import face_mesh as mp_face_mesh
from mediapipe.python.solutions import face_mesh_connections as conn

from skintrack.errors import Refused

ALIGNED_SIZE = 512
N_MESH = 468  # the last 10 of the 478 refined landmarks are the irises
CANONICAL_PATH = Path(__file__).with_name("canonical_face.npy")
# Detection runs on a copy whose longest side is at most this; the mesh model works on a
# 192 px crop of the face anyway, and the alignment warps the full-resolution photo.
DETECT_MAX_SIDE = 1280
# When the face mesh finds nothing, detection is tried once more on a copy with a border of
# this share of the longest side on every side, edge-replicated: a photo cropped tight to the
# face (or into it) leaves the detector no margin. Measured: faces_utk's 200 px crops, 294 of
# 297 found as they are, 297 with this border (0.25: 296); obama-1080p and biden cropped 20%
# inside the face oval, found only with the border. The landmarks are mapped back to the photo,
# so the framing check still judges the photo as it is (such a crop is refused as cut).
DETECT_PAD = 0.5
# When the mesh finds several faces, the largest is analysed alone if the distance between its
# outer eye corners is at least this many times every other face's: a face half the size or
# less is someone in the background, not a second subject. faces_mebeauty's photos with a small
# face behind the subject read 2.3, 3.1 and 4.1; two people cheek to cheek read 1.06.
SUBJECT_RATIO = 2.0
OTHER_FACES = "another, smaller face in the photo was ignored"

REGIONS = ("forehead", "left_cheek", "right_cheek", "nose", "chin", "under_eye_left", "under_eye_right")
# Landmarks named in the region geometry. "Left" and "right" are the subject's own: the
# subject's right cheek is on the left of an unmirrored photo.
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
NOSE_BRIDGE, NOSE_TIP, SUBNASALE = 168, 1, 2
RIGHT_ALAR, LEFT_ALAR = 129, 358
MOUTH_RIGHT, MOUTH_LEFT, LOWER_LIP, CHIN, FOREHEAD_TOP = 61, 291, 17, 152, 10


class FaceRejected(Refused, ValueError):
    """The photo has no usable single face; the message says why and what to do."""


def _cycle(edges: frozenset) -> list[int]:
    """Order the edges of a closed contour from mediapipe's connection sets into a polygon."""
    nxt: dict[int, list[int]] = {}
    for a, b in edges:
        nxt.setdefault(a, []).append(b)
        nxt.setdefault(b, []).append(a)
    start = min(nxt)
    order, prev = [start], None
    while True:
        cur = order[-1]
        step = [n for n in nxt[cur] if n != prev and (len(order) < 2 or n != order[-2])]
        if not step or step[0] == start:
            break
        prev = cur
        order.append(step[0])
    return order


FACE_OVAL = _cycle(conn.FACEMESH_FACE_OVAL)
RIGHT_EYE = _cycle(conn.FACEMESH_RIGHT_EYE)
LEFT_EYE = _cycle(conn.FACEMESH_LEFT_EYE)
RIGHT_BROW = sorted({i for e in conn.FACEMESH_RIGHT_EYEBROW for i in e})
LEFT_BROW = sorted({i for e in conn.FACEMESH_LEFT_EYEBROW for i in e})
LIPS_OUTER = sorted({i for e in conn.FACEMESH_LIPS for i in e})


@dataclass(frozen=True)
class Face:
    """One detected face: landmarks in photo pixels (x, y, z) and head pose in degrees."""

    landmarks: np.ndarray  # (478, 3); z is relative depth in the scale of x
    yaw: float
    pitch: float
    roll: float
    ignored: int = 0  # smaller faces in the photo, in the background, that were not analysed

    @property
    def box(self) -> tuple[float, float, float, float]:
        pts = self.landmarks[FACE_OVAL, :2]
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def eye_distance(self) -> float:
        """Distance between the outer eye corners, in photo pixels."""
        return _eye_distance(self.landmarks)


@dataclass(frozen=True)
class Aligned:
    """The face warped into the canonical 512x512 frame."""

    image: np.ndarray  # (512, 512, 3) uint8 RGB
    landmarks: np.ndarray  # (478, 2) in the aligned frame
    matrix: np.ndarray  # (2, 3) photo -> aligned frame
    rms: float  # residual of the similarity fit, aligned-frame pixels
    scale: float  # aligned-frame pixels per photo pixel
    # (512, 512) bool: the aligned pixels that come from the photo; the rest is the warp's black
    # border fill, where a face cut by the photo's edge continues. No measurement may read it.
    inside: np.ndarray | None = None


# ---------------------------------------------------------------- detection


class FaceMesh:
    """MediaPipe's face mesh, made once and shared; calls are serialised (it is not thread-safe)."""

    def __init__(self, max_faces: int = 3) -> None:
        self._mesh = mp_face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=0.5,
        )
        self._lock = threading.Lock()

    def landmarks(self, rgb: np.ndarray, pad: float = 0.0) -> list[np.ndarray]:
        """Every face's 478 landmarks in photo pixels (x, y, z), largest face first.

        ``pad`` > 0 runs the mesh on a copy with an edge-replicated border of that share of the
        longest side; the landmarks are still returned in the coordinates of ``rgb``.
        """
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        small = (
            rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        border = round(pad * max(small.shape[:2]))
        if border:
            small = cv2.copyMakeBorder(small, border, border, border, border, cv2.BORDER_REPLICATE)
        sh, sw = small.shape[:2]
        with self._lock:
            result = self._mesh.process(np.ascontiguousarray(small))
        faces = []
        for found in result.multi_face_landmarks or []:
            pts = np.array([(p.x, p.y, p.z) for p in found.landmark], dtype=np.float64)
            pts *= np.array([sw, sh, sw])  # pixels of the (padded) copy that was searched
            pts[:, :2] -= border
            pts *= np.array([w, h, w]) / (np.array([sw, sh, sw]) - 2 * border)  # back to the photo's scale
            faces.append(pts)
        faces.sort(key=lambda p: -np.ptp(p[:, 0]) * np.ptp(p[:, 1]))
        return faces


@functools.cache
def default_mesh() -> FaceMesh:
    return FaceMesh()


@functools.cache
def canonical() -> np.ndarray:
    """The canonical face: (468, 3) points in the 512 aligned frame (z in the same units)."""
    return np.load(CANONICAL_PATH)


def _eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[RIGHT_EYE_OUTER, :2] - landmarks[LEFT_EYE_OUTER, :2]))


def detect(rgb: np.ndarray, mesh: FaceMesh | None = None) -> Face:
    """The one face in ``rgb`` (or the subject, when every other face is ``SUBJECT_RATIO``
    times smaller), with its head pose, or ``FaceRejected`` saying why."""
    mesh = mesh or default_mesh()
    faces = mesh.landmarks(rgb) or mesh.landmarks(rgb, pad=DETECT_PAD)
    if not faces:
        raise FaceRejected("no face found: face the camera in even light, with your whole face in the frame")
    faces.sort(key=_eye_distance, reverse=True)
    subject, others = faces[0], faces[1:]
    if any(SUBJECT_RATIO * _eye_distance(f) > _eye_distance(subject) for f in others):
        raise FaceRejected(f"{len(faces)} faces found: crop the photo to yours")
    yaw, pitch, roll = head_pose(subject)
    return Face(landmarks=subject, yaw=yaw, pitch=pitch, roll=roll, ignored=len(others))


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees: the rotation of the canonical mesh onto this one.

    A 3D Kabsch fit of the mesh (x, y, relative z) onto the canonical face; positive yaw
    turns the face to the subject's left, positive pitch tilts the chin up, positive roll
    tilts the head towards the subject's left shoulder (clockwise in the photo).
    """
    src = canonical()
    dst = landmarks[:N_MESH]
    a = src - src.mean(0)
    b = dst - dst.mean(0)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, 1.0, d]) @ vt  # canonical -> photo
    roll = math.degrees(math.atan2(rot[1, 0], rot[0, 0]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -rot[2, 0]))))
    pitch = math.degrees(math.atan2(rot[2, 1], rot[2, 2]))
    return yaw, pitch, roll


# ---------------------------------------------------------------- alignment


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) taking 2D points src onto dst; (2, 3)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


def align(rgb: np.ndarray, face: Face, size: int = ALIGNED_SIZE) -> Aligned:
    """Warp the photo so the face's mesh lies on the canonical face, in a size x size frame."""
    target = canonical()[:, :2] * (size / ALIGNED_SIZE)
    matrix = similarity_fit(face.landmarks[:N_MESH, :2], target)
    scale = float(math.hypot(matrix[0, 0], matrix[1, 0]))
    # Shrinking by a lot aliases: pre-blur with area resampling when the photo is far larger.
    image = cv2.warpAffine(
        rgb,
        matrix,
        (size, size),
        flags=cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    pts = face.landmarks[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    rms = float(np.sqrt(((pts[:N_MESH] - target) ** 2).sum(1).mean()))
    return Aligned(image=image, landmarks=pts, matrix=matrix, rms=rms, scale=scale, inside=in_photo(rgb, matrix, size))


def in_photo(rgb: np.ndarray, matrix: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """(size, size) bool: the aligned pixels whose value the warp took from the photo alone.

    Each pixel's centre is mapped back into the photo; bilinear interpolation reads the four
    photo pixels around it, so it must lie within [0, w - 1] x [0, h - 1]; one photo pixel more
    is kept clear of the edge, where JPEG and the photo's own borders are least sure.
    """
    h, w = rgb.shape[:2]
    back = cv2.invertAffineTransform(matrix)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    x = back[0, 0] * xx + back[0, 1] * yy + back[0, 2]
    y = back[1, 0] * xx + back[1, 1] * yy + back[1, 2]
    return (x >= 1) & (x <= w - 2) & (y >= 1) & (y <= h - 2)


# ---------------------------------------------------------------- region masks


def _poly(mask: np.ndarray, pts: np.ndarray, value: int = 255) -> None:
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], value)


def _skin(lm: np.ndarray, size: int, m: float) -> np.ndarray:
    """The face oval, eroded, minus the eyes, brows and lips grown by the margin ``m`` (uint8)."""
    skin = np.zeros((size, size), np.uint8)
    _poly(skin, lm[FACE_OVAL])
    skin = cv2.erode(skin, np.ones((3, 3), np.uint8), iterations=max(1, round(m / 2)))
    cut = np.zeros_like(skin)
    for idx in (RIGHT_EYE, LEFT_EYE):
        _poly(cut, lm[idx])
    for idx in (RIGHT_BROW, LEFT_BROW, LIPS_OUTER):
        _poly(cut, cv2.convexHull(lm[idx].astype(np.float32))[:, 0])
    grow = max(3, 2 * round(m) + 1)
    cut = cv2.dilate(cut, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)), iterations=2)
    skin &= ~cut
    return skin


def _nose(lm: np.ndarray, skin: np.ndarray, iod: float, m: float) -> np.ndarray:
    """The nose: from either side of the bridge down to the alae and the subnasale."""
    nose = np.zeros_like(skin)
    bridge_half = 0.12 * iod
    _poly(
        nose,
        np.array(
            [
                lm[NOSE_BRIDGE] + (-bridge_half, 0),
                lm[NOSE_BRIDGE] + (bridge_half, 0),
                lm[LEFT_ALAR] + (0, -m),
                lm[SUBNASALE],
                lm[RIGHT_ALAR] + (0, -m),
            ]
        ),
    )
    return nose.astype(bool)


def region_masks(landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> dict[str, np.ndarray]:
    """Boolean masks of the skin regions in the aligned frame, from the landmark polygons.

    Each region is the face oval cut by lines through landmarks, minus the eyes, brows
    and lips (each grown by a margin so lashes and lip edges stay out).
    """
    lm = landmarks[:, :2]
    iod = float(np.linalg.norm(lm[RIGHT_EYE_OUTER] - lm[LEFT_EYE_OUTER]))
    m = 0.04 * iod  # margin

    skin = _skin(lm, size, m)

    yy, xx = np.mgrid[0:size, 0:size]
    brow_top = min(lm[RIGHT_BROW, 1].min(), lm[LEFT_BROW, 1].min())
    eye_bottom_r = lm[RIGHT_EYE, 1].max()
    eye_bottom_l = lm[LEFT_EYE, 1].max()
    under_h = 0.22 * iod

    def band(eye_idx, bottom):
        x0, x1 = lm[eye_idx, 0].min(), lm[eye_idx, 0].max()
        return (xx >= x0) & (xx <= x1) & (yy > bottom + m) & (yy <= bottom + m + under_h)

    under_r = band(RIGHT_EYE, eye_bottom_r)
    under_l = band(LEFT_EYE, eye_bottom_l)

    nose = _nose(lm, skin, iod, m)

    mouth_y = (lm[MOUTH_RIGHT, 1] + lm[MOUTH_LEFT, 1]) / 2
    right_cheek = (yy > eye_bottom_r + m + under_h) & (yy < mouth_y) & (xx < lm[RIGHT_ALAR, 0] - m) & ~nose
    left_cheek = (yy > eye_bottom_l + m + under_h) & (yy < mouth_y) & (xx > lm[LEFT_ALAR, 0] + m) & ~nose
    chin = (yy > lm[LOWER_LIP, 1] + m) & (np.abs(xx - lm[CHIN, 0]) < 0.42 * iod)
    forehead = yy < brow_top - m

    skin_b = skin.astype(bool)
    masks = {
        "forehead": forehead,
        "right_cheek": right_cheek,
        "left_cheek": left_cheek,
        "nose": nose,
        "chin": chin,
        "under_eye_right": under_r & ~nose,
        "under_eye_left": under_l & ~nose,
    }
    return {name: masks[name] & skin_b for name in REGIONS}


def face_mask(landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """Union of all region masks: the skin the measurements may look at."""
    masks = region_masks(landmarks, size)
    return np.logical_or.reduce(list(masks.values()))


def oval_mask(landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The face oval in the aligned frame, eyes and mouth included."""
    mask = np.zeros((size, size), np.uint8)
    _poly(mask, landmarks[FACE_OVAL, :2], 1)
    return mask.astype(bool)


REGION_COLOURS = {  # Okabe-Ito palette: distinguishable with colour-blindness
    "forehead": (230, 159, 0),
    "right_cheek": (86, 180, 233),
    "left_cheek": (0, 158, 115),
    "nose": (240, 228, 66),
    "chin": (0, 114, 178),
    "under_eye_right": (213, 94, 0),
    "under_eye_left": (204, 121, 167),
}


def draw_regions(image: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """The aligned face with each region outlined in its colour."""
    out = image.copy()
    for name, mask in masks.items():
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, REGION_COLOURS[name], 2, lineType=cv2.LINE_AA)
    return out


def overlay_heatmap(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``heat`` in [0, 1] over the image, in cividis (readable with colour-blindness)."""
    coloured = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_CIVIDIS)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    weight = (alpha * np.clip(heat, 0, 1))[..., None]
    return np.uint8(image * (1 - weight) + coloured * weight)

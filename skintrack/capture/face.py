"""Face landmarks, head pose, the photo-quality gate, alignment and region masks.

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
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from mediapipe.python.solutions import face_mesh as mp_face_mesh
from mediapipe.python.solutions import face_mesh_connections as conn

from skintrack.capture import measure
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

    @property
    def box(self) -> tuple[float, float, float, float]:
        pts = self.landmarks[FACE_OVAL, :2]
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def eye_distance(self) -> float:
        """Distance between the outer eye corners, in photo pixels."""
        lm = self.landmarks
        return float(np.linalg.norm(lm[RIGHT_EYE_OUTER, :2] - lm[LEFT_EYE_OUTER, :2]))


@dataclass(frozen=True)
class Aligned:
    """The face warped into the canonical 512x512 frame."""

    image: np.ndarray  # (512, 512, 3) uint8 RGB
    landmarks: np.ndarray  # (478, 2) in the aligned frame
    matrix: np.ndarray  # (2, 3) photo -> aligned frame
    rms: float  # residual of the similarity fit, aligned-frame pixels
    scale: float  # aligned-frame pixels per photo pixel


# What each gate condition protects. Texture, red spots and evenness read detail of 1-5 mm,
# which blur removes; the colour measurements read lightness and chroma, which exposure and
# the colour of the light move (red spots are found on a*, so they need both); the acne model reads the face at its input size.
DETAIL = ("texture", "red_spots", "evenness")
COLOUR = ("redness", "red_area", "ita", "evenness", "dark_circles", "shine", "red_spots")
MODEL = ("acne_model",)
EVERY = "*"  # a withheld region loses every measurement; a withheld condition, every region


@dataclass(frozen=True)
class Check:
    """One gate check. A failed check withholds ``withholds`` (measurements) or ``regions``;
    one that names neither refuses the whole photo."""

    name: str
    passed: bool
    value: float
    limit: str
    message: str  # what is wrong and what to do, shown when the check fails
    withholds: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def refuses(self) -> bool:
        return not self.withholds and not self.regions


@dataclass(frozen=True)
class Withheld:
    """A measurement (or a region's every measurement) the photo cannot support, and why."""

    condition: str  # a measurement's name, or EVERY
    region: str  # a region's name, or EVERY
    reason: str


@dataclass(frozen=True)
class Quality:
    """The verdict of the photo-quality gate: every check, and the failed ones in words."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check passed: nothing refused, nothing withheld."""
        return all(c.passed for c in self.checks)

    @property
    def refused(self) -> bool:
        """A check that guards the whole photo failed: nothing can be measured."""
        return any(c.refuses and not c.passed for c in self.checks)

    @property
    def refusals(self) -> list[Check]:
        return [c for c in self.checks if c.refuses]

    @property
    def reasons(self) -> list[str]:
        return [c.message for c in self.checks if not c.passed]

    @property
    def withheld(self) -> list[Withheld]:
        """What the failed checks withhold, the first reason for each."""
        out: dict[tuple[str, str], Withheld] = {}
        for c in self.checks:
            if c.passed:
                continue
            for condition in c.withholds:
                out.setdefault((condition, EVERY), Withheld(condition, EVERY, c.message))
            for region in c.regions:
                out.setdefault((EVERY, region), Withheld(EVERY, region, c.message))
        return list(out.values())

    def supports(self, condition: str, region: str = EVERY) -> bool:
        """Whether the photo supports ``condition`` in ``region``."""
        return not self.refused and not any(
            w.condition in (condition, EVERY)
            and w.region in (region, EVERY)
            and (w.condition, w.region) != (EVERY, EVERY)
            for w in self.withheld
        )

    def as_dict(self) -> dict:
        return {c.name: {"passed": c.passed, "value": round(c.value, 3), "limit": c.limit} for c in self.checks}


@dataclass(frozen=True)
class GateLimits:
    """Limits of the quality gate (measured; see README and tools/gate_report.py)."""

    min_eye_distance_px: float = 60.0  # outer eye corners, in the original photo; smaller withholds detail
    # Blur of the aligned face, as the sigma (aligned px) of a Gaussian blur (``blur_px``). Blurring
    # sharp portraits step by step, texture, evenness and red spots stayed inside their noise bands
    # (repeatability.json) up to an estimate of 2.5 on 8 of 8 portraits (red spots: 7 of 8).
    max_blur_px: float = 2.5
    # The acne model sees the aligned face at 224 px: the same blur is 512/224 times smaller there.
    max_blur_model_px: float = 2.5 * 512 / 224
    # Exposure: the brightest face pixels (sclera, teeth, specular highlights: white or near white
    # in any skin tone), 99.5th percentile of the max channel over the face oval. Well-lit portraits
    # of every group of faces_mebeauty read 144-255; the test portraits underexposed to 15% 87-100.
    min_highlight: float = 120.0
    max_clipped: float = 0.05  # share of skin pixels with a channel at 254-255
    # Colour cast: how far the skin sits from the skin locus along the colour-temperature axis
    # (``measure.colour_cast``); white balance undoes at most ``measure.MAX_LOCUS_SHIFT`` (0.6).
    # obama-1080p and biden relit at 2700-15000 K: whole-face redness moved +0.32 a* at a cast of
    # 0.63 (4500 K), +1.02 at 0.72 (3800 K), +2.3 to +2.8 at 0.83-0.90, +4.3 at 1.03-1.08 (3300-3500 K),
    # against a noise band of 0.65 a*. The band alone would set 0.65, but the locus is least sure at
    # the dark end: obama-1080p with its skin re-rendered at ITA -50 in the same light reads 0.68 (at
    # ITA 0: 0.13), and 2 of 16 well-lit black tune portraits of faces_mebeauty exceed 0.65. So only
    # a strong cast (about 3500 K or warmer, a lamp) withholds colour; 0.65-1.0 is a known bias.
    max_cast: float = 1.0
    max_yaw_deg: float = 30.0  # beyond: refused; the canonical fit was checked to 30 degrees
    region_yaw_deg: float = 20.0  # beyond: the cheek and under-eye turned away are withheld
    max_pitch_deg: float = 20.0
    max_roll_deg: float = 30.0  # the similarity fit undoes roll
    max_outside: float = 0.02  # share of the face oval outside the photo


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


def detect(rgb: np.ndarray, mesh: FaceMesh | None = None) -> Face:
    """Exactly one face in ``rgb``, with its head pose, or ``FaceRejected`` saying why."""
    mesh = mesh or default_mesh()
    faces = mesh.landmarks(rgb) or mesh.landmarks(rgb, pad=DETECT_PAD)
    if not faces:
        raise FaceRejected("no face found: face the camera in even light, with your whole face in the frame")
    if len(faces) > 1:
        raise FaceRejected(f"{len(faces)} faces found: crop the photo to yours")
    yaw, pitch, roll = head_pose(faces[0])
    return Face(landmarks=faces[0], yaw=yaw, pitch=pitch, roll=roll)


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
    return Aligned(image=image, landmarks=pts, matrix=matrix, rms=rms, scale=scale)


# ---------------------------------------------------------------- region masks


def _poly(mask: np.ndarray, pts: np.ndarray, value: int = 255) -> None:
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], value)


def region_masks(landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> dict[str, np.ndarray]:
    """Boolean masks of the skin regions in the aligned frame, from the landmark polygons.

    Each region is the face oval cut by lines through landmarks, minus the eyes, brows
    and lips (each grown by a margin so lashes and lip edges stay out).
    """
    lm = landmarks[:, :2]
    iod = float(np.linalg.norm(lm[RIGHT_EYE_OUTER] - lm[LEFT_EYE_OUTER]))
    m = 0.04 * iod  # margin

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
    nose = nose.astype(bool)

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


# ---------------------------------------------------------------- quality gate


def _oval(landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    _poly(mask, landmarks[FACE_OVAL, :2], 1)
    return mask.astype(bool)


def blur_px(aligned: Aligned, reblur: float = 2.0) -> float:
    """How blurred the aligned face is: the sigma (aligned px) of a Gaussian blur that would
    make a sharp step edge look like the face's sharpest edges (eyes, brows, lips, nostrils).

    A step edge blurred by s has its steepest gradient fall by sqrt(s^2 + r^2) / s when blurred
    again by r, whatever its contrast: so the estimate does not depend on the skin's
    lightness, and an upscaled small face reads as blurred as it is at the 512 px scale.
    """
    inner = cv2.erode(_oval(aligned.landmarks).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    grey = cv2.cvtColor(aligned.image, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def gradient(x: np.ndarray) -> np.ndarray:
        return np.hypot(cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3))[inner]

    sharp, again = gradient(grey), gradient(cv2.GaussianBlur(grey, (0, 0), reblur))
    if sharp.size == 0:
        return math.inf
    top = sharp >= np.quantile(sharp, 0.98)
    ratio = float(sharp[top].mean()) / max(float(again[top].mean()), 1e-6)
    return reblur / math.sqrt(max(ratio * ratio - 1.0, 1e-6))


def highlight_level(aligned: Aligned) -> float:
    """The 99.5th percentile of the max channel over the face oval (eyes and mouth included)."""
    oval = _oval(aligned.landmarks)
    return float(np.percentile(aligned.image.max(axis=2)[oval], 99.5)) if oval.any() else 0.0


def quality(rgb: np.ndarray, face: Face, aligned: Aligned, limits: GateLimits | None = None) -> Quality:
    """Check framing, pose, size, blur and exposure; each failed check withholds what it
    guards (or refuses the photo) and says what to do."""
    lim = limits or GateLimits()
    mask = face_mask(aligned.landmarks)
    clipped = float((aligned.image[mask] >= 254).any(axis=1).mean()) if mask.any() else 1.0
    blur = blur_px(aligned)
    highlight = highlight_level(aligned)
    cast = measure.colour_cast(aligned.image, region_masks(aligned.landmarks))
    cast = 0.0 if cast is None else cast
    h, w = rgb.shape[:2]
    oval = face.landmarks[FACE_OVAL, :2]
    outside = float(((oval[:, 0] < 0) | (oval[:, 0] >= w) | (oval[:, 1] < 0) | (oval[:, 1] >= h)).mean())
    eye = face.eye_distance
    yaw = abs(face.yaw)
    # Positive yaw turns the face to the subject's left: their left cheek turns away from the camera.
    away = ("left_cheek", "under_eye_left") if face.yaw > 0 else ("right_cheek", "under_eye_right")
    blur_fix = "hold still, clean the lens, focus on your face, in more light"
    checks = [
        Check(
            "framing",
            outside <= lim.max_outside,
            outside,
            f"<= {lim.max_outside:.0%} of the face outside the photo",
            "face cut by the edge of the photo: keep your whole face in the frame",
        ),
        Check(
            "yaw",
            yaw <= lim.max_yaw_deg,
            face.yaw,
            f"|yaw| <= {lim.max_yaw_deg:.0f} deg",
            f"head turned {yaw:.0f} degrees ({lim.max_yaw_deg:.0f} at most): look straight at the camera",
        ),
        Check(
            "pitch",
            abs(face.pitch) <= lim.max_pitch_deg,
            face.pitch,
            f"|pitch| <= {lim.max_pitch_deg:.0f} deg",
            f"head tilted {abs(face.pitch):.0f} degrees up or down ({lim.max_pitch_deg:.0f} at most): hold the camera at eye level",
        ),
        Check(
            "roll",
            abs(face.roll) <= lim.max_roll_deg,
            face.roll,
            f"|roll| <= {lim.max_roll_deg:.0f} deg",
            f"head tilted {abs(face.roll):.0f} degrees sideways ({lim.max_roll_deg:.0f} at most): keep your head upright",
        ),
        Check(
            "turned_cheek",
            yaw <= lim.region_yaw_deg,
            face.yaw,
            f"|yaw| <= {lim.region_yaw_deg:.0f} deg for both cheeks",
            f"{away[0].replace('_', ' ')} turned away (head turned {yaw:.0f} degrees, {lim.region_yaw_deg:.0f} at most): look straight at the camera",
            regions=away,
        ),
        Check(
            "face_size",
            eye >= lim.min_eye_distance_px,
            eye,
            f">= {lim.min_eye_distance_px:.0f} px between the eyes",
            f"face too small for fine detail ({eye:.0f} px between the eyes, {lim.min_eye_distance_px:.0f} needed): come closer or use a higher resolution",
            withholds=DETAIL + MODEL,
        ),  # lesions are 1-3 px at 33 px between the eyes: the model sees none
        Check(
            "sharpness",
            blur <= lim.max_blur_px,
            blur,
            f"blur <= {lim.max_blur_px} px (aligned face)",
            f"too soft for texture and red spots (blur {blur:.1f} px, {lim.max_blur_px} at most): {blur_fix}",
            withholds=DETAIL,
        ),
        Check(
            "model_sharpness",
            blur <= lim.max_blur_model_px,
            blur,
            f"blur <= {lim.max_blur_model_px:.1f} px (aligned face)",
            f"too soft for the acne model (blur {blur:.1f} px, {lim.max_blur_model_px:.1f} at most): {blur_fix}",
            withholds=MODEL,
        ),
        Check(
            "exposure",
            highlight >= lim.min_highlight,
            highlight,
            f"brightest face pixels >= {lim.min_highlight:.0f}",
            f"underexposed for colour (brightest face pixels {highlight:.0f}, {lim.min_highlight:.0f} needed): face a window or a lamp",
            withholds=COLOUR,
        ),
        Check(
            "highlights",
            clipped <= lim.max_clipped,
            clipped,
            f"<= {lim.max_clipped:.0%} blown-out pixels",
            f"overexposed for colour ({clipped:.0%} of the skin blown out, {lim.max_clipped:.0%} at most): avoid flash and direct sun",
            withholds=COLOUR,
        ),
        Check(
            "colour_cast",
            abs(cast) <= lim.max_cast,
            cast,
            f"|colour cast| <= {lim.max_cast}",
            f"light too {'warm' if cast > 0 else 'cold'} for colour (cast {abs(cast):.2f}, {lim.max_cast} at most): "
            "use daylight from a window, not a lamp or coloured light",
            withholds=COLOUR,
        ),
    ]
    return Quality(checks)


def overlay_heatmap(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``heat`` in [0, 1] over the image, in cividis (readable with colour-blindness)."""
    coloured = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_CIVIDIS)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    weight = (alpha * np.clip(heat, 0, 1))[..., None]
    return np.uint8(image * (1 - weight) + coloured * weight)

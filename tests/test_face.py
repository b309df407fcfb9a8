"""Real MediaPipe on real portraits: one face, two faces, no face, pose, alignment, regions."""

import cv2
import numpy as np
import pytest
from conftest import jpeg_bytes, no_face, rgb_of, two_faces, with_face_in_corner

from skintrack import pipeline
from skintrack.capture import face, quality

LADDER = ["obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg", "obama-1080p.jpg"]


@pytest.fixture(scope="module")
def ladder():
    out = {}
    for name in LADDER:
        rgb = rgb_of(name)
        found = face.detect(rgb)
        out[name] = (rgb, found, face.align(rgb, found))
    return out


def test_one_face_has_478_landmarks_and_a_frontal_pose(ladder):
    _, found, _ = ladder["obama-1080p.jpg"]
    assert found.landmarks.shape == (478, 3)
    assert abs(found.yaw) < 8 and abs(found.pitch) < 8 and abs(found.roll) < 5


def test_no_face_is_a_clear_reason():
    with pytest.raises(face.FaceRejected, match="no face found"):
        face.detect(no_face())


def test_two_faces_are_refused_with_the_count():
    with pytest.raises(face.FaceRejected, match="2 faces found: crop the photo to yours"):
        face.detect(two_faces())


def test_a_much_smaller_face_in_the_background_is_ignored_and_said_so():
    """A face with its eyes 0.4 times as far apart as the subject's (someone behind them): the mesh
    finds both, the subject is analysed, and the check-in says the other face was ignored."""
    img = with_face_in_corner(0.4)
    mesh = face.FaceMesh()
    both = mesh.landmarks(img)
    assert len(both) == 2  # the background face is found, so the test is not vacuous
    subject = face.detect(img, mesh)
    assert subject.ignored == 1
    assert subject.eye_distance == pytest.approx(149, abs=5)  # Obama's, not the pasted face's 59
    assert subject.box[0] > img.shape[1] / 4  # the face in the middle, not the one in the corner
    analysis = pipeline.analyse(jpeg_bytes(img), mesh=mesh)
    assert pipeline.can_store(analysis) and analysis.measurements
    assert pipeline.notes(analysis) == ["another, smaller face in the photo was ignored"]
    assert pipeline.notes(pipeline.analyse(jpeg_bytes(rgb_of("obama-720p.jpg")), mesh=mesh)) == []


def test_a_second_face_of_comparable_size_still_refuses():
    """At 0.7 times the subject's eye distance (and at 0.5: 75 px against 148, just under the
    ratio of 2) the other face may be a second subject: refused, as two people side by side are."""
    for scale in (0.5, 0.7):
        with pytest.raises(face.FaceRejected, match="^2 faces found: crop the photo to yours$"):
            face.detect(with_face_in_corner(scale))


def test_roll_is_measured_on_a_rotated_photo(ladder):
    rgb = rgb_of("obama-720p.jpg")
    h, w = rgb.shape[:2]
    upright = face.detect(rgb).roll
    matrix = cv2.getRotationMatrix2D((w / 2, h / 3), -10, 1.0)  # negative angle: clockwise
    rotated = cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    assert face.detect(rotated).roll - upright == pytest.approx(10, abs=2.5)


def test_alignment_is_stable_across_resolutions(ladder):
    """Same portrait at 240p-1080p: aligned landmarks within median 1.5 px, p95 3 px of their mean."""
    pts = np.stack([ladder[n][2].landmarks[: face.N_MESH] for n in LADDER])
    mean = pts.mean(axis=0)
    for name, p in zip(LADDER, pts, strict=True):
        d = np.linalg.norm(p - mean, axis=1)
        assert np.median(d) <= 1.5, name
        assert np.percentile(d, 95) <= 3.0, name


def test_all_points_beat_eye_centres_only(ladder):
    """The reason for the full-mesh fit: aligning by the two eye centres alone is jitterier."""

    def eye_only(rgb, found):
        lm = found.landmarks[:, :2]
        can = face.canonical()[:, :2]
        src = np.array([lm[face.RIGHT_EYE].mean(0), lm[face.LEFT_EYE].mean(0)])
        dst = np.array([can[face.RIGHT_EYE].mean(0), can[face.LEFT_EYE].mean(0)])
        m, _ = cv2.estimateAffinePartial2D(src, dst)
        return lm[: face.N_MESH] @ m[:, :2].T + m[:, 2]

    eye = np.stack([eye_only(rgb, f) for rgb, f, _ in ladder.values()])
    full = np.stack([a.landmarks[: face.N_MESH] for _, _, a in ladder.values()])
    spread = lambda p: np.median(np.linalg.norm(p - p.mean(0), axis=2))  # noqa: E731
    assert spread(full) < spread(eye)


def test_regions_are_on_skin_and_apart(ladder):
    _, _, aligned = ladder["obama-1080p.jpg"]
    masks = face.region_masks(aligned.landmarks)
    assert set(masks) == set(face.REGIONS)
    for name, mask in masks.items():
        assert mask.sum() > 800, name
    total = sum(m.astype(int) for m in masks.values())
    assert total.max() == 1  # no pixel in two regions
    # Eyes and lips are excluded.
    lm = aligned.landmarks
    for idx in (face.RIGHT_EYE, face.LEFT_EYE):
        x, y = np.round(lm[idx].mean(0)).astype(int)
        assert total[y, x] == 0
    x, y = np.round(lm[[13, 14]].mean(0)).astype(int)  # between the lips
    assert total[y, x] == 0
    # Subject's right cheek lies on the image's left.
    ys, xs = np.nonzero(masks["right_cheek"])
    assert xs.mean() < 256 < np.nonzero(masks["left_cheek"])[1].mean()


def test_a_crop_into_the_face_is_found_on_a_padded_copy_and_judged_as_cut(ladder):
    """obama-1080p cropped 20% inside the face oval: the mesh finds nothing as it is, the retry
    on an edge-padded copy finds the face, its landmarks land on the crop's own pixels, and the
    framing check (on the crop, not the padded copy) refuses it as cut by the edge."""
    rgb, found, _ = ladder["obama-1080p.jpg"]
    x0, y0, x1, y1 = found.box
    dx, dy = 0.2 * (x1 - x0), 0.2 * (y1 - y0)
    top, left = round(y0 + dy), round(x0 + dx)
    crop = np.ascontiguousarray(rgb[top : round(y1 - dy), left : round(x1 - dx)])
    mesh = face.FaceMesh()
    assert mesh.landmarks(crop) == []  # what the retry is for
    cropped = face.detect(crop, mesh)
    moved = np.linalg.norm(
        cropped.landmarks[: face.N_MESH, :2] + (left, top) - found.landmarks[: face.N_MESH, :2], axis=1
    )
    assert np.median(moved) < 0.06 * found.eye_distance, np.median(moved)  # measured 0.032; the border is 150 px
    verdict = quality.quality(crop, cropped, face.align(crop, cropped))
    assert verdict.refused and "face cut by the edge" in verdict.reasons[0]


def test_the_padded_retry_keeps_the_scale_of_the_photo(ladder):
    """A crop tight to the face oval, searched with and without the border: the same landmarks."""
    rgb, found, _ = ladder["obama-1080p.jpg"]
    x0, y0, x1, y1 = (round(v) for v in found.box)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    mesh = face.FaceMesh()
    plain, padded = mesh.landmarks(crop)[0], mesh.landmarks(crop, pad=face.DETECT_PAD)[0]
    assert np.median(np.linalg.norm(padded[: face.N_MESH, :2] - plain[: face.N_MESH, :2], axis=1)) < 3.0

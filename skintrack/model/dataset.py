"""The labelled data folders the acne model is trained and measured on, read and aligned.

The folder format is acne04's: ``labels.csv`` with ``image`` (path relative to the
folder), ``severity_grade`` (0-3) or ``n_lesions`` or both, optionally ``split``, and
optionally YOLO lesion boxes in ``<split>/yolo_labels/<stem>.txt`` (with ``classes.txt``,
only the acne-lesion classes count), ``subjects.csv`` (each photo's person) and ``meta.csv``
(per-photo columns labels.csv lacks). Every photo is aligned with ``skintrack.capture.face``;
where no face is found it falls back to a resize of the whole photo (and is put in its own
skin-tone group, since skin tone cannot be measured without the mask). Training reads the
aligned photos as ``Example``s at model scale, from the cache ``tools/prepare_acne04.py``
writes or aligned here. No torch here.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from skintrack.errors import BadValue
from skintrack.model.acne import GRADE_NAMES, Preprocess, crop_resize

# skintrack.face and skintrack.measure (MediaPipe) are imported where photos are aligned or
# measured, so that training from a prepared cache runs where MediaPipe is not installed.

NO_FACE_GROUP = "no face found"
N_GRADES = len(GRADE_NAMES)


def read_labels(data_dir: str | Path, split: str | None = None) -> list[dict]:
    """Rows of ``labels.csv`` (optionally one split), checked: each row has a grade (0-3) or a
    lesion count (or both), and its image is present. A folder with ``subjects.csv``
    (``acne04_id,subject``) gives each row its person as ``subject``."""
    data_dir = Path(data_dir)
    labels = data_dir / "labels.csv"
    if not labels.is_file():
        raise BadValue(
            f"no labels.csv in {data_dir}: a data folder needs labels.csv with image and severity_grade or n_lesions"
        )
    with labels.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "image" not in rows[0] or not {"severity_grade", "n_lesions"} & set(rows[0]):
        raise BadValue(f"{labels} needs the column image and severity_grade or n_lesions (or both)")
    if split is not None:
        splits = sorted({r.get("split", "") for r in rows})
        rows = [r for r in rows if r.get("split") == split]
        if not rows:
            raise BadValue(f"split {split!r} not in {labels}; splits there: {', '.join(splits)}")
    for r in rows:
        g, n = r.get("severity_grade") or "", r.get("n_lesions") or ""
        if g and g not in {str(k) for k in range(N_GRADES)}:
            raise BadValue(f"{labels}: severity_grade {g!r} for {r['image']}; allowed: 0-{N_GRADES - 1}")
        if n and not n.isdigit():
            raise BadValue(f"{labels}: n_lesions {n!r} for {r['image']}; allowed: a whole number >= 0")
        if not g and not n:
            raise BadValue(f"{labels}: {r['image']} has neither severity_grade nor n_lesions")
        if not (data_dir / r["image"]).is_file():
            raise BadValue(f"{labels}: image {r['image']!r} not found under {data_dir}")
    meta = data_dir / "meta.csv"  # acne_frontal: per-photo subset, pose, ... (columns labels.csv lacks)
    if meta.is_file():
        with meta.open(newline="") as f:
            extra = {m["image"]: m for m in csv.DictReader(f)}
        for r in rows:
            r.update({k: v for k, v in extra.get(r["image"], {}).items() if k not in r})
    subjects = read_subjects(data_dir)
    if subjects:
        for r in rows:
            r["subject"] = subjects.get(r.get("acne04_id") or Path(r["image"]).name, "")
    return rows


def read_subjects(data_dir: str | Path) -> dict[str, str]:
    """Photo file name -> person id from the folder's ``subjects.csv``, or {} without one."""
    path = Path(data_dir) / "subjects.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"acne04_id", "subject"} <= set(rows[0]):
        raise BadValue(f"{path} needs the columns acne04_id and subject")
    return {r["acne04_id"]: r["subject"] for r in rows}


def exclude_subjects_of(rows: list[dict], all_rows: list[dict], split: str) -> tuple[list[dict], dict]:
    """``rows`` less those of people who also appear in ``split`` of ``all_rows`` (by
    ``subject``), and a note of what was dropped."""
    if not all_rows or "subject" not in all_rows[0]:
        raise BadValue("excluding the people of a split needs subjects.csv (acne04_id,subject) beside labels.csv")
    seen = {r["subject"] for r in all_rows if r.get("split") == split and r["subject"]}
    if not seen:
        raise BadValue(f"no photo with a subject in split {split!r}")
    unknown = [r for r in rows if not r["subject"]]
    if unknown:
        raise BadValue(
            f"{len(unknown)} photos have no subject in subjects.csv (e.g. {unknown[0]['image']}): "
            "cannot tell whether their people are in the excluded split"
        )
    kept = [r for r in rows if r["subject"] not in seen]
    note = {
        "exclude_subjects_of": split,
        "n_before": len(rows),
        "n_dropped": len(rows) - len(kept),
        "n_subjects": len({r["subject"] for r in kept}),
    }
    return kept, note


def sample_rows(rows: list[dict], sample: int, seed: int) -> tuple[list[dict], dict]:
    """A uniform random sample of ``sample`` of ``rows`` (seeded, in their order), and a note of it."""
    if sample < 1:
        raise BadValue(f"--sample {sample}: a sample needs at least one photo")
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), sample, replace=False))
    note = {"sample": sample, "sample_of": len(rows), "seed": seed}
    return [rows[i] for i in pick], note


# Box classes that count as acne lesions, by the name classes.txt gives them (acne04: one
# class; acne_frontal: acne and pimple count, spot, mole and scar do not, as its n_lesions).
LESION_CLASSES = ("acne_lesion", "acne", "pimple")


def lesion_classes(data_dir: Path) -> set[int] | None:
    """The class ids in ``classes.txt`` that are acne lesions, or None (every box) without one."""
    path = Path(data_dir) / "classes.txt"
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return {i for i, name in enumerate(names) if name in LESION_CLASSES}


def lesion_centres(data_dir: Path, image: str, width: int, height: int) -> np.ndarray | None:
    """Centres of the YOLO lesion boxes of an image in photo pixels, or None if no label file.
    Only boxes of acne-lesion classes count where the folder has ``classes.txt``."""
    data_dir = Path(data_dir)
    rel = Path(image)
    path = data_dir / rel.parent.parent / "yolo_labels" / (rel.stem + ".txt")
    if not path.is_file():
        return None
    keep = lesion_classes(data_dir)
    pts = []
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) >= 5 and (keep is None or int(parts[0]) in keep):
            pts.append((float(parts[1]) * width, float(parts[2]) * height))
    return np.array(pts, np.float64).reshape(-1, 2)


def align_or_resize(rgb: np.ndarray, size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(aligned image, 2x3 photo->frame matrix, landmarks or None).

    The largest face found is aligned as the app aligns a selfie; with no face, the whole
    photo is resized into the frame (centred, aspect kept) and landmarks are None.
    """
    from skintrack.capture import face

    found = face.default_mesh().landmarks(rgb)
    if found:
        yaw, pitch, roll = face.head_pose(found[0])
        a = face.align(rgb, face.Face(landmarks=found[0], yaw=yaw, pitch=pitch, roll=roll), size)
        return a.image, a.matrix, a.landmarks
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    m = np.array([[s, 0.0, (size - s * w) / 2], [0.0, s, (size - s * h) / 2]])
    img = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)
    return img, m, None


def skin_tone(aligned_rgb: np.ndarray, landmarks: np.ndarray | None) -> tuple[float | None, str]:
    """(ITA in degrees, ITA group) measured on the face skin, or (None, NO_FACE_GROUP)."""
    if landmarks is None:
        return None, NO_FACE_GROUP
    from skintrack.capture import colour, face, measure

    ita = measure.value(measure.measure(aligned_rgb, face.region_masks(landmarks)), "ita")
    return (None, NO_FACE_GROUP) if ita is None else (ita, colour.ita_group(ita))


def prepare_photo(data_dir: str | Path, row: dict) -> dict:
    """Align one labelled photo: image, landmarks (None without a face), lesion centres in
    the aligned frame, ITA, labels."""
    data_dir = Path(data_dir)
    bgr = cv2.imread(str(data_dir / row["image"]), cv2.IMREAD_COLOR)
    if bgr is None:
        raise BadValue(f"cannot decode image {row['image']!r} in {data_dir}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    img, m, lm = align_or_resize(rgb)
    pts = lesion_centres(data_dir, row["image"], rgb.shape[1], rgb.shape[0])
    ita, group = skin_tone(img, lm)
    n, g = row.get("n_lesions"), row.get("severity_grade")
    return {
        "image": img,
        "landmarks": lm,
        "source": row["image"],
        "split": row.get("split"),
        "grade": int(g) if g not in (None, "") else None,
        "n_lesions": int(n) if n not in (None, "") else None,
        "points": None if pts is None else (pts @ m[:, :2].T + m[:, 2]).round(2).tolist(),
        "aligned": lm is not None,
        "ita": ita,
        "ita_group": group,
    }


# ---------------------------------------------------------------- training examples


@dataclass
class Example:
    image: np.ndarray  # model-scale uint8 image (preprocessing size, whole crop)
    points: np.ndarray  # (n, 2) lesion centres in model-input pixels
    grade: int | None  # None: no grade label (counts only, e.g. acne_frontal): grade loss masked
    n_lesions: float  # nan when unknown
    ita_group: str


def load_examples(
    data: Path, split: str | None, pre: Preprocess, cache: Path | None = None, limit: int = 0
) -> list[Example]:
    """Aligned examples of one split (the first ``limit`` if given), at model scale, from the
    prepared cache or, without one, aligned here from the raw folder."""
    items = None
    if cache is not None and (cache / "index.json").is_file():
        index = json.loads((cache / "index.json").read_text())
        items = [it for it in index if split is None or it["split"] == split][: limit or None]
        for it in items:
            bgr = cv2.imread(str(cache / it["file"]), cv2.IMREAD_COLOR)
            it["image"] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if not items:
        items = [prepare_photo(data, row) for row in read_labels(data, split)[: limit or None]]
    m = pre.matrix()
    out = []
    for it in items:
        pts = np.asarray(it["points"] or [], np.float64).reshape(-1, 2)
        n = it["n_lesions"]
        out.append(
            Example(
                image=crop_resize(it["image"], pre),
                points=pts @ m[:, :2].T + m[:, 2],
                grade=None if it["grade"] is None else int(it["grade"]),
                n_lesions=float(n) if n is not None else (float(len(pts)) if it["points"] is not None else math.nan),
                ita_group=it.get("ita_group", ""),
            )
        )
    return out

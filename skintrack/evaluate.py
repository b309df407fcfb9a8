"""Evaluate an acne classifier on a labelled folder, overall and per skin-tone group.

The folder format is acne04's: ``labels.csv`` with ``image`` (path relative to the
folder), ``severity_grade`` (0-3), optionally ``n_lesions`` and ``split``, and optionally
YOLO lesion boxes in ``<split>/yolo_labels/<stem>.txt``. Every photo is aligned with
``skintrack.face``; where no face is found it falls back to a resize of the whole photo
(and is counted in its own group, since skin tone cannot be measured without the mask).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np

from skintrack import classifier as clf
from skintrack.errors import BadValue

# skintrack.face and skintrack.measure (MediaPipe) are imported where photos are aligned or
# measured, so that training from a prepared cache runs where MediaPipe is not installed.

NO_FACE_GROUP = "no face found"
N_GRADES = len(clf.GRADE_NAMES)


# ---------------------------------------------------------------- data


def read_labels(data_dir: str | Path, split: str | None = None) -> list[dict]:
    """Rows of ``labels.csv`` (optionally one split), checked: grade 0-3, files present."""
    data_dir = Path(data_dir)
    labels = data_dir / "labels.csv"
    if not labels.is_file():
        raise BadValue(f"no labels.csv in {data_dir}: a data folder needs labels.csv with image,severity_grade")
    with labels.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "image" not in rows[0] or "severity_grade" not in rows[0]:
        raise BadValue(f"{labels} needs the columns image and severity_grade")
    if split is not None:
        splits = sorted({r.get("split", "") for r in rows})
        rows = [r for r in rows if r.get("split") == split]
        if not rows:
            raise BadValue(f"split {split!r} not in {labels}; splits there: {', '.join(splits)}")
    for r in rows:
        g = r["severity_grade"]
        if g not in {str(k) for k in range(N_GRADES)}:
            raise BadValue(f"{labels}: severity_grade {g!r} for {r['image']}; allowed: 0-{N_GRADES - 1}")
        if not (data_dir / r["image"]).is_file():
            raise BadValue(f"{labels}: image {r['image']!r} not found under {data_dir}")
    return rows


def lesion_centres(data_dir: Path, image: str, width: int, height: int) -> np.ndarray | None:
    """Centres of the YOLO lesion boxes of an image in photo pixels, or None if no label file."""
    rel = Path(image)
    path = data_dir / rel.parent.parent / "yolo_labels" / (rel.stem + ".txt")
    if not path.is_file():
        return None
    pts = []
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) >= 5:
            pts.append((float(parts[1]) * width, float(parts[2]) * height))
    return np.array(pts, np.float64).reshape(-1, 2)


def align_or_resize(rgb: np.ndarray, size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(aligned image, 2x3 photo->frame matrix, landmarks or None).

    The largest face found is aligned as the app aligns a selfie; with no face, the whole
    photo is resized into the frame (centred, aspect kept) and landmarks are None.
    """
    from skintrack import face

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
    from skintrack import face, measure

    ita = measure.value(measure.measure(aligned_rgb, face.region_masks(landmarks)), "ita")
    return (None, NO_FACE_GROUP) if ita is None else (ita, measure.ita_group(ita))


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
    n = row.get("n_lesions")
    return {
        "image": img,
        "landmarks": lm,
        "source": row["image"],
        "split": row.get("split"),
        "grade": int(row["severity_grade"]),
        "n_lesions": int(n) if n not in (None, "") else None,
        "points": None if pts is None else (pts @ m[:, :2].T + m[:, 2]).round(2).tolist(),
        "aligned": lm is not None,
        "ita": ita,
        "ita_group": group,
    }


# ---------------------------------------------------------------- metrics


def grade_metrics(y_true, probs, lesions_true=None, lesions_pred=None, n_bins: int = 10) -> dict:
    """Accuracy, balanced accuracy, macro-F1, confusion matrix, ECE, lesion MAE."""
    y = np.asarray(y_true, int)
    p = np.asarray(probs, np.float64).reshape(len(y), N_GRADES)
    pred = p.argmax(1)
    conf = np.zeros((N_GRADES, N_GRADES), int)  # rows: true, columns: predicted
    for t, q in zip(y, pred, strict=True):
        conf[t, q] += 1
    recalls, f1s = [], []
    for k in range(N_GRADES):
        tp, support, predicted = conf[k, k], conf[k].sum(), conf[:, k].sum()
        if support:
            recalls.append(tp / support)
        if support or predicted:
            f1s.append(2 * tp / (support + predicted))
    confidence = p.max(1)
    correct = (pred == y).astype(float)
    ece = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (confidence > lo) & (confidence <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    out = {
        "n": int(len(y)),
        "accuracy": float(correct.mean()) if len(y) else math.nan,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else math.nan,
        "macro_f1": float(np.mean(f1s)) if f1s else math.nan,
        "mae_grade": float(np.abs((p * np.arange(N_GRADES)).sum(1) - y).mean()) if len(y) else math.nan,
        "ece": float(ece),
        "confusion": conf.tolist(),
    }
    if lesions_true is not None and lesions_pred is not None:
        lt = np.asarray(lesions_true, float)
        lp = np.asarray(lesions_pred, float)
        ok = ~np.isnan(lt)
        if ok.any():
            out["mae_lesions"] = float(np.abs(lt[ok] - lp[ok]).mean())
            out["accuracy_from_count"] = float(np.mean([grade == clf.grade_from_count(c) for grade, c in zip(y[ok], lp[ok], strict=True)]))
    return out


def evaluate_model(classifier: clf.Classifier, data_dir: str | Path, split: str | None = None,
                   progress=None) -> dict:  # fmt: skip
    """Metrics of ``classifier`` on a labelled folder: overall and per ITA skin-tone group."""
    rows = read_labels(data_dir, split)
    truth, probs, lt, lp, groups = [], [], [], [], []
    for i, row in enumerate(rows):
        item = prepare_photo(data_dir, row)
        pred = classifier.predict(item["image"])
        truth.append(item["grade"])
        probs.append(pred.probs)
        lt.append(math.nan if item["n_lesions"] is None else item["n_lesions"])
        lp.append(pred.lesions)
        groups.append(item["ita_group"])
        if progress is not None:
            progress(i + 1, len(rows))
    result = grade_metrics(truth, probs, lt, lp)
    result["model"] = classifier.source
    result["data"] = str(data_dir)
    result["split"] = split
    from skintrack import measure

    by_group = {}
    order = [name for _, name in measure.ITA_GROUPS] + [NO_FACE_GROUP]
    for g in order:
        idx = [i for i, x in enumerate(groups) if x == g]
        if idx:
            by_group[g] = grade_metrics([truth[i] for i in idx], [probs[i] for i in idx],
                                        [lt[i] for i in idx], [lp[i] for i in idx])  # fmt: skip
    result["by_group"] = by_group
    return result


def evaluate_tone_shift(classifier: clf.Classifier, data_dir: str | Path, split: str | None,
                        targets: list[float], progress=None) -> dict:  # fmt: skip
    """A paired skin-tone test: every photo with a face, as it is and re-rendered at each
    target ITA (``skintrack.tone.shift_tone``, on the face-skin mask), graded by the same
    model. Per target: the metrics, how often the grade and the count stayed what they were
    on the photo as it is, and the ITA groups the re-rendered photos were measured in.

    The same photos and labels at every tone, so a difference between tones is the model's,
    not the sample's (ACNE04 holds 18 brown and 2 dark valid photos)."""
    from skintrack import measure

    rows = read_labels(data_dir, split)
    keys = ["as is"] + [f"ITA {t:+.0f}" for t in targets]
    truth, lt = [], []
    probs = {k: [] for k in keys}
    counts = {k: [] for k in keys}
    groups = {k: [] for k in keys}
    for i, row in enumerate(rows):
        item = prepare_photo(data_dir, row)
        if progress is not None:
            progress(i + 1, len(rows))
        if not item["aligned"]:
            continue
        renders = [(item["image"], item["ita_group"])]
        for t in targets:
            image, measured = reshade(item["image"], item["landmarks"], t, item["ita"])
            renders.append((image, measure.ita_group(measured)))
        preds = classifier.predict_batch([image for image, _ in renders])
        truth.append(item["grade"])
        lt.append(math.nan if item["n_lesions"] is None else item["n_lesions"])
        for k, (_, group), pred in zip(keys, renders, preds, strict=True):
            probs[k].append(pred.probs)
            counts[k].append(pred.lesions)
            groups[k].append(group)
    base_grade = np.argmax(probs["as is"], 1) if truth else np.zeros(0, int)
    out = {"model": classifier.source, "data": str(data_dir), "split": split, "n": len(truth), "by_tone": {}}
    for k in keys:
        m = grade_metrics(truth, probs[k], lt, counts[k])
        m["grade_unchanged"] = float(np.mean(np.argmax(probs[k], 1) == base_grade)) if truth else math.nan
        m["mean_count_change"] = float(np.mean(np.subtract(counts[k], counts["as is"]))) if truth else math.nan
        m["measured_groups"] = {g: groups[k].count(g) for g in dict.fromkeys(groups[k])}
        out["by_tone"][k] = m
    return out


def reshade(aligned_rgb: np.ndarray, landmarks: np.ndarray, ita: float, measured: float | None = None,
            rounds: int = 4) -> tuple[np.ndarray, float]:  # fmt: skip
    """The aligned face re-rendered (``tone.shift_image`` on the face skin) until the app's own
    skin-tone measurement, which white-balances first, reads about ``ita`` degrees; returns the
    image and the ITA measured on it. ``measured``: the face's ITA as it is, where known."""
    from skintrack import face, tone

    skin = face.face_mask(landmarks)
    raw = tone.image_ita(aligned_rgb, skin)  # shift_tone's own reading
    start = skin_tone(aligned_rgb, landmarks)[0] if measured is None else measured
    aim = raw + ita - (raw if start is None else start)
    image, reading = aligned_rgb, math.nan
    for _ in range(rounds):
        image = tone.shift_image(aligned_rgb, max(-85.0, min(85.0, aim)), skin)
        reading = skin_tone(image, landmarks)[0]
        if abs(reading - ita) < 2:
            break
        aim += ita - reading
    return image, reading


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--data", type=Path, required=True, help="folder with labels.csv (acne04 format)")
    parser.add_argument("--split", default="auto",
                        help="rows of labels.csv with this split; 'all' for every row; 'auto' (default): "
                        "the 'valid' rows where labels.csv has them, else every row")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--tone-shift", type=parse_angles, default=None, metavar="ITA[,ITA...]",
                        help="paired skin-tone test instead: every photo with a face also re-rendered at "
                        "these ITA angles in degrees (brown: -30 to 10, dark: below -30), e.g. 0,-45")


def parse_angles(text: str) -> list[float]:
    try:
        out = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ITA angles in degrees separated by commas, got {text!r}") from None
    if not out or any(not -90 < t < 90 for t in out):
        raise argparse.ArgumentTypeError(f"ITA angles lie between -90 and 90 degrees, got {text!r}")
    return out


def format_report(r: dict) -> str:
    """The metrics as plain text."""
    def line(name, m):
        s = (f"{name:<14} n={m['n']:<4} acc={m['accuracy']:.3f} bal_acc={m['balanced_accuracy']:.3f} "
             f"macro_f1={m['macro_f1']:.3f} ece={m['ece']:.3f}")  # fmt: skip
        if "mae_lesions" in m:
            s += f" mae_lesions={m['mae_lesions']:.2f}"
        return s

    out = [f"model {r['model']} on {r['data']} (split {r['split'] or 'all'})", line("all", r)]
    out.append("confusion (rows true, columns predicted: " + ", ".join(clf.GRADE_NAMES) + ")")
    out += ["  " + " ".join(f"{v:4d}" for v in row) for row in r["confusion"]]
    out.append("by skin-tone group (ITA measured on each aligned photo):")
    out += ["  " + line(g, m) for g, m in r["by_group"].items()]
    return "\n".join(out)


def format_tone_report(r: dict) -> str:
    """The paired skin-tone test as plain text."""
    out = [f"model {r['model']} on {r['data']} (split {r['split'] or 'all'}): {r['n']} photos with a face, "
           "each graded as it is and re-rendered at each skin tone"]  # fmt: skip
    for k, m in r["by_tone"].items():
        groups = ", ".join(f"{g} {n}" for g, n in m["measured_groups"].items())
        out.append(f"{k:<8} acc={m['accuracy']:.3f} bal_acc={m['balanced_accuracy']:.3f} "
                   f"mae_lesions={m.get('mae_lesions', math.nan):.2f} grade_unchanged={m['grade_unchanged']:.3f} "
                   f"count_change={m['mean_count_change']:+.2f}  measured as: {groups}")  # fmt: skip
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    path = args.model or clf.default_path()
    if path is None:
        raise BadValue(f"no model installed under {clf.MODELS_DIR}; pass --model PATH")
    classifier = clf.load(path)
    split = None if args.split in (None, "all") else args.split
    if split == "auto":
        splits = {r.get("split") for r in read_labels(args.data)}
        split = "valid" if "valid" in splits else None
    progress = None
    if not args.json:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="photo")

        def progress(i, n):
            bar.total = n
            bar.update(1)

    if getattr(args, "tone_shift", None):
        result = evaluate_tone_shift(classifier, args.data, split, args.tone_shift, progress)
        print(json.dumps(result, indent=2) if args.json else format_tone_report(result))
        return 0
    result = evaluate_model(classifier, args.data, split, progress)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="evaluate an acne classifier")
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))

"""Validate skintrack's measurements on the labelled images in ../shared/data.

    python tools/validate_measurements.py [--data ../shared/data] [--cache DIR] [--out docs/validation.json]

- acne04: red-spot count against the lesion counts (Spearman on valid; mean absolute
  error on valid after a linear fit count -> lesions on train);
- dark_circles: the dark-circle measure per under-eye box against its label (AUC of
  high/moderate against no dark circle);
- faces_utk: ITA per race_name (a rough proxy for skin tone, not ground truth), as a
  chart (docs/ita_by_race.png);
- skin locus: the fit behind ``colour.SKIN_LOCUS`` (``--fit-locus`` prints it).

Face landmarks are cached (``--cache``) so a second run only re-measures. MediaPipe finds
no face in some photos (profile views); the report says how many were measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.capture import colour, face, filters, measure

ROOT = Path(__file__).resolve().parent.parent


def read_rgb(path: Path, pad: float = 0.0) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not an image")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if pad:
        p = int(round(pad * max(rgb.shape[:2])))
        rgb = cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_REPLICATE)
    return rgb


def landmarks_for(paths: list[Path], cache: Path, name: str, pad: float = 0.0) -> dict[str, np.ndarray | None]:
    """Photo landmarks (478x3) per path, None where no single face was found; cached."""
    file = cache / f"{name}.npz"
    found: dict[str, np.ndarray | None] = {}
    if file.is_file():
        stored = np.load(file, allow_pickle=True)["landmarks"].item()
        found.update(stored)
    mesh = face.FaceMesh(max_faces=1)
    todo = [p for p in paths if str(p) not in found]
    for i, p in enumerate(todo):
        if i % 100 == 0:
            print(f"  {name}: detecting {i}/{len(todo)}", file=sys.stderr)
        try:
            pts = mesh.landmarks(read_rgb(p, pad))
        except ValueError:
            pts = []
        found[str(p)] = pts[0] if pts else None
    if todo:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(file, landmarks=np.array(found, dtype=object))
    return found


def aligned_of(path: Path, lm: np.ndarray, pad: float = 0.0):
    rgb = read_rgb(path, pad)
    yaw, pitch, roll = face.head_pose(lm)
    aligned = face.align(rgb, face.Face(lm, yaw, pitch, roll))
    return aligned, face.region_masks(aligned.landmarks), (yaw, pitch, roll)


def spearman(x, y) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def auc(pos, neg) -> float:
    """Probability that a positive scores higher than a negative (ties count half)."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


# ---------------------------------------------------------------- acne04


def acne(data: Path, cache: Path) -> dict:
    folder = data / "acne04"
    rows = list(csv.DictReader((folder / "labels.csv").open()))
    paths = [folder / r["image"] for r in rows]
    found = landmarks_for(paths, cache, "acne04")
    records = []
    for r, p in zip(rows, paths, strict=True):
        lm = found.get(str(p))
        if lm is None:
            continue
        aligned, masks, pose = aligned_of(p, lm)
        ms = measure.measure(aligned.image, masks, aligned.landmarks)
        maps = colour.skin_maps(aligned.image, masks)
        spots = {t: len(filters.red_spots(maps.lab, maps.clean & ~masks["nose"], t)) for t in (2.5, 3.5)}
        records.append(
            {
                "split": r["split"],
                "lesions": int(r["n_lesions"]),
                "grade": int(r["severity_grade"]),
                "red_spots": measure.value(ms, "red_spots"),
                "yaw": pose[0],
                "red_area": measure.value(ms, "red_area"),
                "redness": measure.value(ms, "redness"),
                **{f"spots_{t}": n for t, n in spots.items()},
            }
        )
    train = [x for x in records if x["split"] == "train"]
    valid = [x for x in records if x["split"] == "valid"]
    out = {
        "photos": len(rows),
        "measured": len(records),
        "measured_train": len(train),
        "measured_valid": len(valid),
        "photos_train": sum(r["split"] == "train" for r in rows),
        "photos_valid": sum(r["split"] == "valid" for r in rows),
    }
    for key in ["red_spots", "spots_2.5", "spots_3.5", "red_area"]:
        xt = np.array([x[key] for x in train], float)
        yt = np.array([x["lesions"] for x in train], float)
        xv = np.array([x[key] for x in valid], float)
        yv = np.array([x["lesions"] for x in valid], float)
        slope, intercept = np.polyfit(xt, yt, 1)
        pred = np.maximum(0.0, slope * xv + intercept)
        out[key] = {
            "spearman_valid": round(spearman(xv, yv), 3),
            "spearman_train": round(spearman(xt, yt), 3),
            "mae_valid": round(float(np.mean(np.abs(pred - yv))), 2),
            "mae_valid_predicting_train_mean": round(float(np.mean(np.abs(yt.mean() - yv))), 2),
            "fit": [round(float(slope), 3), round(float(intercept), 2)],
        }
    frontal = [x for x in valid if abs(x["yaw"]) <= 20]
    if len(frontal) > 10:
        out["red_spots_frontal_valid"] = {
            "n": len(frontal),
            "spearman": round(spearman([x["red_spots"] for x in frontal], [x["lesions"] for x in frontal]), 3),
        }
    return out


# ---------------------------------------------------------------- dark circles

DARK_CLASSES = ["high", "low", "moderate", "no_dark_circle"]


def dark_circles(data: Path, cache: Path) -> dict:
    folder = data / "dark_circles"
    paths = sorted(folder.glob("*/images/*.jpg"))
    found = landmarks_for(paths, cache, "dark_circles")
    boxes = []
    for p in paths:
        lm = found.get(str(p))
        label_file = p.parent.parent / "labels" / (p.stem + ".txt")
        if lm is None or not label_file.is_file():
            continue
        aligned, masks, _ = aligned_of(p, lm)
        ms = measure.measure(aligned.image, masks, aligned.landmarks)
        h, w = read_rgb(p).shape[:2]
        # The subject's right eye is on the left of the photo.
        eye_x = {"right": lm[face.RIGHT_EYE, 0].mean() / w, "left": lm[face.LEFT_EYE, 0].mean() / w}
        for line in label_file.read_text().split("\n"):
            parts = line.split()
            if len(parts) != 5:
                continue
            cls, x = DARK_CLASSES[int(parts[0])], float(parts[1])
            side = min(eye_x, key=lambda s: abs(eye_x[s] - x))
            v = measure.value(ms, "dark_circles", f"under_eye_{side}")
            if v is not None:
                boxes.append((cls, v))
    by = {c: [v for k, v in boxes if k == c] for c in DARK_CLASSES}
    return {
        "photos": len(paths),
        "measured_photos": sum(found.get(str(p)) is not None for p in paths),
        "boxes": len(boxes),
        "per_class": {c: len(v) for c, v in by.items()},
        "mean_by_class": {c: round(float(np.mean(v)), 2) if v else None for c, v in by.items()},
        "auc_high_moderate_vs_none": round(auc(by["high"] + by["moderate"], by["no_dark_circle"]), 3),
        "auc_high_moderate_vs_low_none": round(auc(by["high"] + by["moderate"], by["low"] + by["no_dark_circle"]), 3),
    }


# ---------------------------------------------------------------- faces_utk and the skin locus

UTK_PAD = 0.4


def utk(data: Path, cache: Path, chart: Path | None) -> dict:
    folder = data / "faces_utk"
    rows = list(csv.DictReader((folder / "labels.csv").open()))
    paths = [folder / r["image"] for r in rows]
    found = landmarks_for(paths, cache, "faces_utk", pad=UTK_PAD)
    per: dict[str, list[float]] = {}
    for r, p in zip(rows, paths, strict=True):
        lm = found.get(str(p))
        if lm is None:
            continue
        aligned, masks, _ = aligned_of(p, lm, pad=UTK_PAD)
        v = measure.value(measure.measure(aligned.image, masks, aligned.landmarks), "ita")
        if v is not None:
            per.setdefault(r["race_name"], []).append(v)
    out = {"photos": len(rows), "measured": sum(map(len, per.values())), "ita_by_race": {}}
    for race, v in sorted(per.items()):
        q = np.quantile(v, [0.25, 0.5, 0.75])
        groups = {}
        for x in v:
            groups[colour.ita_group(x)] = groups.get(colour.ita_group(x), 0) + 1
        out["ita_by_race"][race] = {
            "n": len(v),
            "q25": round(q[0], 1),
            "median": round(q[1], 1),
            "q75": round(q[2], 1),
            "groups": groups,
        }
    if chart is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        order = [r for r in ("White", "Asian", "Indian", "Others", "Black") if r in per]
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
        ax.boxplot([per[r] for r in order], tick_labels=[f"{r}\n(n={len(per[r])})" for r in order], showfliers=True)
        for bound, name in colour.ITA_GROUPS[:-1]:
            ax.axhline(bound, color="0.8", lw=0.8, zorder=0)
            ax.text(len(order) + 0.55, bound + 1, name, fontsize=7, color="0.45")
        ax.set_ylabel("ITA (degrees), whole face")
        ax.set_title("ITA per race_name on faces_utk (a rough proxy, not ground truth)", fontsize=9)
        fig.tight_layout()
        fig.savefig(chart)
        plt.close(fig)
    return out


def fit_locus(data: Path, cache: Path) -> dict:
    """Skin log-chroma on faces_utk: the plane along = a + b * across + c * L* (``colour.SKIN_LOCUS``)."""
    pts = []
    folder = data / "faces_utk"
    rows = list(csv.DictReader((folder / "labels.csv").open()))
    paths = [folder / r["image"] for r in rows]
    found = landmarks_for(paths, cache, "faces_utk", pad=UTK_PAD)
    for p in paths:
        if found.get(str(p)) is not None:
            aligned, masks, _ = aligned_of(p, found[str(p)], pad=UTK_PAD)
            c = colour.skin_chroma(aligned.image, masks)
            if c is not None:
                pts.append(c)
    pts = np.array(pts)
    # along = a + b * across + c * L*, least squares; then again without the worst 10%
    # (strong colour casts of the web photos).
    design = np.c_[np.ones(len(pts)), pts[:, 1], pts[:, 2]]
    coef = np.linalg.lstsq(design, pts[:, 0], rcond=None)[0]
    resid = np.abs(pts[:, 0] - design @ coef)
    keep = resid <= np.quantile(resid, 0.9)
    coef = np.linalg.lstsq(design[keep], pts[keep, 0], rcond=None)[0]
    return {
        "n": len(pts),
        "skin_locus": [round(float(c), 4) for c in coef],
        "sd_along": round(float(np.std(pts[:, 0] - design @ coef)), 4),
    }


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--cache", default=str(ROOT / "cache" / "validate"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "validation.json"))
    parser.add_argument("--chart", default=str(ROOT / "docs" / "ita_by_race.png"))
    parser.add_argument("--only", choices=["acne04", "dark_circles", "faces_utk", "locus"], action="append")
    return parser


def main(args: argparse.Namespace) -> int:
    data, cache = Path(args.data), Path(args.cache)
    if not data.is_dir():
        raise SystemExit(f"{data}: no such folder (the shared data)")
    only = set(args.only or ["acne04", "dark_circles", "faces_utk"])
    result = {"source": measure.SOURCE}
    if "locus" in only:
        result["locus"] = fit_locus(data, cache)
    if "dark_circles" in only:
        result["dark_circles"] = dark_circles(data, cache)
    if "faces_utk" in only:
        result["faces_utk"] = utk(data, cache, Path(args.chart) if args.chart else None)
    if "acne04" in only:
        result["acne04"] = acne(data, cache)
    print(json.dumps(result, indent=1))
    if args.out and only >= {"acne04", "dark_circles", "faces_utk"}:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))

"""Acceptance and withheld rates of the quality gate per ethnicity group, on real portraits.

Runs the check-in pipeline (``pipeline.analyse``, without the acne model) on every photo of
``faces_mebeauty`` (and, with ``--utk``, the ``faces_utk`` crops padded on every side so the
detector sees the whole face) and prints, per group and for each half of a fixed split:

- stored: the face was analysed and at least one measurement kept (what a Save stores);
- withheld: the share of stored photos with a measurement withheld, and which conditions;
- the refusal reasons (every failed check of a refused photo), with "too dark" counted on its own.

Black-and-white photos are refused (colour cannot be measured) and counted apart: the
targets of issue 14 are on colour photos.

The split is by a hash of the file name: ``tune`` is the half the limits may be looked at on,
``held`` is kept aside and never tuned on. Run from the project root::

    python tools/gate_report.py ../shared/data [--utk] [--json out.json]
    python tools/gate_report.py ../shared/data --pose PHOTO...   # the yaw study (README)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from skintrack import pipeline
from skintrack.capture import face, images, measure, quality

REJECTIONS = (("black and white", "black_and_white"), ("no face", "no_face"), ("faces found", "several_faces"))
UTK_PAD = 0.5  # of the crop's side, on every side: a 200 px crop becomes 400 px


def part(name: str) -> str:
    """'tune' or 'held': a fixed half of the photos by the MD5 of the file name."""
    return "tune" if hashlib.md5(Path(name).name.encode()).digest()[0] % 2 == 0 else "held"


def _padded_jpeg(path: Path) -> bytes:
    rgb = np.asarray(Image.open(path).convert("RGB"))
    pad = round(UTK_PAD * max(rgb.shape[:2]))
    out = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return buf.tobytes()


def photos(data: Path, utk: bool) -> list[tuple[str, str, Path, bool]]:
    """(set, group, path, pad) for every photo to run."""
    rows = []
    for line in (data / "faces_mebeauty" / "labels.csv").read_text().splitlines()[1:]:
        image, ethnicity = line.split(",")[:2]
        rows.append(("mebeauty", ethnicity, data / "faces_mebeauty" / image, False))
    if utk:
        lines = (data / "faces_utk" / "labels.csv").read_text().splitlines()
        head = lines[0].split(",")
        for line in lines[1:]:
            rec = dict(zip(head, line.split(","), strict=True))
            rows.append(("utk", rec["race_name"], data / "faces_utk" / rec["image"], True))
    return rows


def verdict(data: bytes, mesh: face.FaceMesh) -> dict:
    """{'stored': bool, 'refused': [check names], 'withheld': [conditions], 'reason': str}."""
    try:
        analysis = pipeline.analyse(data, None, None, mesh)
    except (images.ImageRejected, face.FaceRejected) as exc:
        reason = str(exc)
        name = next((n for key, n in REJECTIONS if key in reason), "unreadable")
        return {
            "stored": False,
            "refused": [name],
            "withheld": [],
            "reason": reason,
            "colour": name != "black_and_white",
        }
    refusals = analysis.quality.refusals if hasattr(analysis.quality, "refusals") else analysis.quality.checks
    failed = [c for c in refusals if not c.passed]
    withheld = sorted(
        {w.condition if w.condition != quality.EVERY else w.region for w in getattr(analysis, "withheld", [])}
    )
    stored = not failed and bool(analysis.measurements)
    return {
        "stored": stored,
        "refused": [c.name for c in failed],
        "colour": True,
        "yaw": round(analysis.face.yaw, 1),
        "pitch": round(analysis.face.pitch, 1),
        "withheld": withheld if stored else [],
        "failed": [c.name for c in analysis.quality.checks if not c.passed],
        "reason": "; ".join(c.message for c in failed),
    }


def summarise(results: list[dict]) -> list[str]:
    lines = []
    for name in sorted({(r["set"], r["part"]) for r in results}):
        rows = [r for r in results if (r["set"], r["part"]) == name]
        lines.append(f"\n{name[0]} / {name[1]} ({len(rows)} photos)")
        lines.append(f"  {'group':<12}{'stored':>12}{'withheld':>10}  too dark  refusals; withheld conditions")
        by_group = defaultdict(list)
        for r in rows:
            by_group[r["group"]].append(r)
        for group, every in sorted(by_group.items()):
            rs = [r for r in every if r.get("colour", True)]  # the target is on colour photos
            stored = [r for r in rs if r["stored"]]
            some = [r for r in stored if r["withheld"]]
            refusals = Counter("+".join(r["refused"]) for r in rs if not r["stored"])
            held = Counter(c for r in stored for c in r["withheld"])
            dark = sum(bool({"too_dark", "exposure"} & set(r["refused"] + r.get("failed", []))) for r in rs)
            lines.append(
                f"  {group:<12}{len(stored):>4}/{len(rs):<3}{100 * len(stored) / len(rs):4.0f}%"
                f"{100 * len(some) / max(1, len(stored)):9.0f}%  {dark:>8}  "
                f"{dict(refusals.most_common())}; {dict(held.most_common(4))}"
                + (f"; black and white (not counted): {len(every) - len(rs)}" if len(every) > len(rs) else "")
            )
    return lines


# ---------------------------------------------------------------- the yaw limit, measured


def turned(rgb: np.ndarray, landmarks: np.ndarray, yaw_deg: float) -> np.ndarray:
    """``rgb`` with the face mesh turned by ``yaw_deg`` about the vertical axis, in the same light:
    a piecewise-affine warp of the mesh's triangles (and the background to the photo's border),
    drawn far to near so the nearer skin hides what it turns in front of."""
    from scipy.spatial import Delaunay

    h, w = rgb.shape[:2]
    pts = landmarks[: face.N_MESH]
    centre = pts.mean(0)
    a = np.radians(yaw_deg)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = (pts - centre) @ rot.T + centre
    border = np.array(
        [[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [w / 2, 0], [w / 2, h - 1], [0, h / 2], [w - 1, h / 2]]
    )
    src, dst = np.vstack([pts[:, :2], border]), np.vstack([moved[:, :2], border])
    depth = np.concatenate([moved[:, 2], np.full(len(border), np.inf)])
    tri = Delaunay(src).simplices

    def signed_area(v: np.ndarray) -> np.ndarray:
        x = v[tri]
        return (x[:, 1, 0] - x[:, 0, 0]) * (x[:, 2, 1] - x[:, 0, 1]) - (x[:, 2, 0] - x[:, 0, 0]) * (
            x[:, 1, 1] - x[:, 0, 1]
        )

    tri = tri[np.sign(signed_area(src)) == np.sign(signed_area(dst))]  # a flipped triangle faces away
    out = np.zeros_like(rgb)
    for t in tri[np.argsort(-depth[tri].mean(1))]:
        d = dst[t]
        x0, y0 = np.maximum(np.floor(d.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(d.max(0)).astype(int) + 1, (w, h))
        if x1 <= x0 or y1 <= y0:
            continue
        m = cv2.getAffineTransform(src[t].astype(np.float32), (d - (x0, y0)).astype(np.float32))
        patch = cv2.warpAffine(
            rgb, m, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        mask = np.zeros(patch.shape[:2], np.uint8)
        poly = np.round(d - (x0, y0)).astype(np.int32)
        cv2.fillConvexPoly(mask, poly, 1)
        cv2.polylines(mask, [poly], True, 1, 2)  # overlap the neighbours: no seams
        out[y0:y1, x0:x1][mask.astype(bool)] = patch[mask.astype(bool)]
    return out


FACING = ("forehead", "nose", "chin", measure.WHOLE_FACE)
YAW_BINS = ((0, 10), (10, 20), (20, 30), (30, 40), (40, 90))


def pose_study(paths: list[Path], mesh: face.FaceMesh, nominal=(15, 30, 45, 60)) -> list[str]:
    """Each frontal portrait turned both ways: per detected-yaw bin, the median change of the
    regions facing the camera (forehead, nose, chin, the near cheek and under-eye, the face over
    the visible regions) against the photo itself, in units of its noise band."""
    ratios: dict[tuple, list[float]] = defaultdict(list)
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        base = _region_values(rgb, mesh)[0]
        for yaw in [y * s for y in nominal for s in (1, -1)]:
            try:
                values, detected = _region_values(turned(rgb, face.detect(rgb, mesh).landmarks, yaw), mesh)
            except face.FaceRejected:
                continue
            b = next(i for i, (lo, hi) in enumerate(YAW_BINS) if lo <= abs(detected) < hi)
            for (condition, region), v in values.items():
                band = measure.noise_band(condition, region)
                if band and (condition, region) in base:
                    ratios[(b, condition)].append(abs(v - base[(condition, region)]) / band)
    lines = ["median |change| / noise band, regions facing the camera (n region-values)"]
    for b, (lo, hi) in enumerate(YAW_BINS):
        cells = [
            f"{c} {np.median(ratios[(b, c)]):.2f}" for c in ("redness", "ita", "texture", "evenness") if ratios[(b, c)]
        ]
        lines.append(f"  |yaw| {lo}-{hi}: " + ", ".join(cells) + f" (n {len(ratios[(b, 'redness')])})")
    return lines


def _region_values(rgb: np.ndarray, mesh: face.FaceMesh) -> tuple[dict, float]:
    found = face.detect(rgb, mesh)
    aligned = face.align(rgb, found)
    far = ("left_cheek", "under_eye_left") if found.yaw > 0 else ("right_cheek", "under_eye_right")
    near = ("right_cheek", "under_eye_right") if found.yaw > 0 else ("left_cheek", "under_eye_left")
    masks = {k: m for k, m in face.region_masks(aligned.landmarks).items() if abs(found.yaw) <= 20 or k not in far}
    keep = FACING + (near if abs(found.yaw) > 3 else face.REGIONS)
    values = {(m.condition, m.region): m.value for m in measure.measure(aligned.image, masks) if m.region in keep}
    return values, found.yaw


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="the shared data folder (holds faces_mebeauty/)")
    p.add_argument("--utk", action="store_true", help="also the padded faces_utk crops")
    p.add_argument("--json", type=Path, help="write every photo's verdict here")
    p.add_argument("--limit", type=int, help="only the first N photos (a quick look)")
    p.add_argument(
        "--pose", nargs="+", type=Path, metavar="PHOTO", help="instead: the yaw study on these frontal portraits"
    )
    return p


def main(args: argparse.Namespace) -> int:
    mesh = face.FaceMesh()
    if args.pose:
        print("\n".join(pose_study(args.pose, mesh)))
        return 0
    results = []
    for kind, group, path, pad in photos(args.data, args.utk)[: args.limit]:
        data = _padded_jpeg(path) if pad else path.read_bytes()
        results.append(
            {"set": kind, "group": group, "image": path.name, "part": part(path.name), **verdict(data, mesh)}
        )
    print("\n".join(summarise(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))

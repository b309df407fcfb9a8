"""Acceptance and withheld rates of the quality gate per ethnicity group, on real portraits.

Runs the check-in pipeline (``pipeline.analyse``, without the acne model) on every photo of
``faces_mebeauty`` (and, with ``--utk``, the ``faces_utk`` crops padded on every side so the
detector sees the whole face) and prints, per group and for each half of a fixed split:

- stored: the face was analysed and at least one measurement kept (what a Save stores);
- withheld: the share of stored photos with a measurement withheld, and which conditions;
- the refusal reasons (every failed check of a refused photo), with "too dark" counted on its own;
- how many stored photos had a smaller face in the background, ignored.

Black-and-white photos are refused (colour cannot be measured) and counted apart: the
targets of issue 14 are on colour photos.

The split is by a hash of the file name: ``tune`` is the half the limits may be looked at on,
``held`` is kept aside and never tuned on. Run from the project root::

    python tools/gate_report.py ../shared/data [--utk] [--model] [--json out.json]
    python tools/gate_report.py ../shared/data --pose PHOTO... [--axis yaw pitch]   # the pose study (README)
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
from skintrack.model import serving

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


def verdict(data: bytes, mesh: face.FaceMesh, classifier=None) -> dict:
    """{'stored': bool, 'refused': [check names], 'withheld': [conditions], 'reason': str}; with
    ``classifier`` (the installed acne model) a photo whose grade alone is kept counts as stored,
    as Save stores it."""
    try:
        analysis = pipeline.analyse(data, None, classifier, mesh)
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
    stored = not failed and pipeline.can_store(analysis)
    # A photo whose checks together withhold every measurement is refused as well: name them.
    nothing = (
        []
        if stored or failed
        else ["nothing kept: " + "+".join(c.name for c in analysis.quality.checks if not c.passed)]
    )
    return {
        "stored": stored,
        "refused": [c.name for c in failed] or nothing,
        "colour": True,
        "yaw": round(analysis.face.yaw, 1),
        "pitch": round(analysis.face.pitch, 1),
        "withheld": withheld if stored else [],
        "ignored_faces": analysis.face.ignored,
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
            ignored = sum(bool(r.get("ignored_faces")) for r in stored)
            lines.append(
                f"  {group:<12}{len(stored):>4}/{len(rs):<3}{100 * len(stored) / len(rs):4.0f}%"
                f"{100 * len(some) / max(1, len(stored)):9.0f}%  {dark:>8}  "
                f"{dict(refusals.most_common())}; {dict(held.most_common(4))}"
                + (f"; another face ignored: {ignored}" if ignored else "")
                + (f"; black and white (not counted): {len(every) - len(rs)}" if len(every) > len(rs) else "")
            )
    return lines


# ---------------------------------------------------------------- the yaw limit, measured


def turned(rgb: np.ndarray, landmarks: np.ndarray, yaw_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    """``rgb`` with the face mesh turned by ``yaw_deg`` about the vertical axis, then tilted by
    ``pitch_deg`` about the horizontal one, in the same light: a piecewise-affine warp of the
    mesh's triangles (and the background to the photo's border), drawn far to near so the nearer
    skin hides what it turns in front of."""
    from scipy.spatial import Delaunay

    h, w = rgb.shape[:2]
    pts = landmarks[: face.N_MESH]
    centre = pts.mean(0)
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rot = pitch @ yaw
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
BINS = {
    "yaw": ((0, 10), (10, 20), (20, 25), (25, 30), (30, 35), (35, 40), (40, 45), (45, 90)),
    "pitch": ((0, 10), (10, 20), (20, 25), (25, 30), (30, 90)),
}
# The detected turn falls short of the warp's (the mesh's depth is flatter than a head): 45-60
# degrees of warp read 30-45.
NOMINAL = {"yaw": (15, 30, 40, 45, 50, 55, 60), "pitch": (10, 20, 25, 30, 35, 40)}
SHOWN = ("redness", "red_area", "ita", "evenness", "texture", "red_spots", "dark_circles", "shine")


def pose_study(paths: list[Path], mesh: face.FaceMesh, axis: str = "yaw", raw: list | None = None) -> list[str]:
    """Each frontal portrait turned (``axis`` "yaw") or tilted ("pitch") both ways: per bin of the
    detected angle, the median change of each measurement against the photo itself, in units of
    its noise band, and the share of changes inside the band. A turn is judged on the regions
    facing the camera (forehead, nose, chin, the near cheek and under-eye, the face over the
    visible regions); a tilt on every region, and region by region. Each change is appended to
    ``raw`` when given."""
    ratios: dict[tuple, list[float]] = defaultdict(list)
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        base = _region_values(rgb, mesh)[0]
        landmarks = face.detect(rgb, mesh).landmarks
        for angle in [a * s for a in NOMINAL[axis] for s in (1, -1)]:
            try:
                image = turned(rgb, landmarks, angle, 0.0) if axis == "yaw" else turned(rgb, landmarks, 0.0, angle)
                values, found = _region_values(image, mesh)
            except face.FaceRejected:
                continue
            detected = found.yaw if axis == "yaw" else found.pitch
            b = next(i for i, (lo, hi) in enumerate(BINS[axis]) if lo <= abs(detected) < hi)
            for (condition, region), v in values.items():
                band = measure.noise_band(condition, region)
                if band and (condition, region) in base:
                    ratio = abs(v - base[(condition, region)]) / band
                    ratios[(b, condition)].append(ratio)
                    ratios[(b, condition, region)].append(ratio)
                    if raw is not None:
                        raw.append([path.name, axis, angle, round(detected, 1), condition, region, round(ratio, 3)])
    lines = [f"{axis}: median |change| / noise band (share inside the band), n region-values"]
    for b, (lo, hi) in enumerate(BINS[axis]):
        cells = [_cell(c, ratios[(b, c)]) for c in SHOWN if ratios[(b, c)]]
        lines.append(f"  |{axis}| {lo}-{hi}: " + ", ".join(cells) + f" (n {len(ratios[(b, 'redness')])})")
    if axis == "pitch":
        for region in face.REGIONS + (measure.WHOLE_FACE,):
            lines.append(f"  {region}:")
            for b, (lo, hi) in enumerate(BINS[axis]):
                cells = [_cell(c, ratios[(b, c, region)]) for c in SHOWN if ratios[(b, c, region)]]
                lines.append(f"    |{axis}| {lo}-{hi}: " + ", ".join(cells))
    return lines


def _cell(condition: str, ratios: list[float]) -> str:
    return f"{condition} {np.median(ratios):.2f} ({np.mean(np.array(ratios) <= 1):.0%})"


def _region_values(rgb: np.ndarray, mesh: face.FaceMesh) -> tuple[dict, face.Face]:
    found = face.detect(rgb, mesh)
    aligned = face.align(rgb, found)
    far = ("left_cheek", "under_eye_left") if found.yaw > 0 else ("right_cheek", "under_eye_right")
    near = ("right_cheek", "under_eye_right") if found.yaw > 0 else ("left_cheek", "under_eye_left")
    masks = {k: m for k, m in face.region_masks(aligned.landmarks).items() if abs(found.yaw) <= 20 or k not in far}
    keep = FACING + (near if abs(found.yaw) > 3 else face.REGIONS)
    values = {(m.condition, m.region): m.value for m in measure.measure(aligned.image, masks) if m.region in keep}
    return values, found


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="the shared data folder (holds faces_mebeauty/)")
    p.add_argument("--utk", action="store_true", help="also the padded faces_utk crops")
    p.add_argument("--json", type=Path, help="write every photo's verdict here (with --pose: every change)")
    p.add_argument("--limit", type=int, help="only the first N photos (a quick look)")
    p.add_argument("--model", action="store_true", help="with the installed acne model, as the app runs")
    p.add_argument(
        "--pose", nargs="+", type=Path, metavar="PHOTO", help="instead: the pose study on these frontal portraits"
    )
    p.add_argument("--axis", choices=("yaw", "pitch"), nargs="+", default=["yaw"], help="what --pose turns")
    return p


def main(args: argparse.Namespace) -> int:
    mesh = face.FaceMesh()
    if args.pose:
        raw: list = []
        for axis in args.axis:
            print("\n".join(pose_study(args.pose, mesh, axis, raw)), flush=True)
        if args.json:
            args.json.write_text(json.dumps(raw))
        return 0
    classifier = serving.installed() if args.model else None
    if args.model and classifier is None:
        print("--model: no acne model is installed", file=sys.stderr)
        return 2
    results = []
    for kind, group, path, pad in photos(args.data, args.utk)[: args.limit]:
        data = _padded_jpeg(path) if pad else path.read_bytes()
        results.append(
            {
                "set": kind,
                "group": group,
                "image": path.name,
                "part": part(path.name),
                **verdict(data, mesh, classifier),
            }
        )
    print("\n".join(summarise(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))

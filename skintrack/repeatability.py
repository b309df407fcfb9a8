"""Repeatability: how much each measurement moves when only the photo changes.

``python -m skintrack repeatability PHOTO... [--json] [--quick] [--write FILE]`` perturbs
each photo the way daily life does (resolution, exposure, colour of the light, JPEG
compression, a few degrees of roll, small shifts and zoom), measures every version the
quality gate does not refuse, keeping of each only the values a check-in would store (a value
the gate withholds, say dark circles on a head turned 12 degrees, is left out for that version
alone), and reports per measurement and region:

- ``sd``: the pooled standard deviation over the versions of a photo (in the unit);
- ``cv``: sd / |mean| (only for measurements that are positive and far from zero:
  redness, evenness, texture; for ITA, dark circles, shine, red area and red spots the
  CV is meaningless, so their noise is given as ``sd`` in their unit);
- ``smallest_change``: 1.96 * sqrt(2) * sd, the minimal detectable change at 95%
  (Weir, J Strength Cond Res 2005): a difference between two photos smaller than this
  can be noise of photo-taking alone. ``measure.noise_band`` reads it from
  ``skintrack/capture/repeatability.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from skintrack.capture import colour, face, measure, quality
from skintrack.errors import BadValue

MDC_FACTOR = 1.96 * math.sqrt(2.0)
CV_CONDITIONS = ("redness", "evenness", "texture")
KINDS = ("resolution", "brightness", "colour", "jpeg", "roll", "shift", "zoom")


@dataclass(frozen=True)
class Perturbation:
    name: str
    kind: str
    apply: Callable[[np.ndarray], np.ndarray]


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _from_linear(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    srgb = np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return np.round(srgb * 255.0).astype(np.uint8)


planck_white = colour.planck_white


def colour_temperature(rgb: np.ndarray, kelvin: float, reference: float = 6500.0) -> np.ndarray:
    """The photo as if lit by a black body at ``kelvin`` instead of ``reference`` (von Kries, luminance kept)."""
    gains = planck_white(kelvin) / planck_white(reference)
    gains = gains / (gains @ colour.LUMA)
    return _from_linear(colour.to_linear(rgb) * gains.astype(np.float32))


def exposure(rgb: np.ndarray, gain: float) -> np.ndarray:
    """The photo with ``gain`` times the light (linear), clipped like a camera."""
    return _from_linear(colour.to_linear(rgb) * np.float32(gain))


def _resize_height(rgb: np.ndarray, height: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def _affine(rgb: np.ndarray, angle: float = 0.0, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += (dx * w, dy * h)
    return cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def perturbations(rgb: np.ndarray, quick: bool = False) -> list[Perturbation]:
    """The versions of a photo that daily life produces; ``quick`` keeps one or two of each kind."""
    h = rgb.shape[0]
    heights = [x for x in (240, 360, 480, 720, 1080) if x < h]
    out = [Perturbation(f"{x}p", "resolution", lambda im, x=x: _resize_height(im, x)) for x in heights]
    out += [Perturbation(f"light x{g}", "brightness", lambda im, g=g: exposure(im, g)) for g in (0.8, 0.9, 1.1, 1.2)]
    out += [
        Perturbation(f"{k} K", "colour", lambda im, k=k: colour_temperature(im, k)) for k in (4500, 5500, 7500, 9000)
    ]
    out += [Perturbation(f"jpeg {q}", "jpeg", lambda im, q=q: _jpeg(im, q)) for q in (60, 75, 85, 95)]
    out += [Perturbation(f"roll {a:+d}", "roll", lambda im, a=a: _affine(im, angle=a)) for a in (-4, 4)]
    out += [
        Perturbation(f"shift {d}", "shift", lambda im, d=d: _affine(im, dx=d[0], dy=d[1]))
        for d in ((0.04, 0.0), (-0.04, 0.03))
    ]
    out += [Perturbation(f"zoom {z}", "zoom", lambda im, z=z: _affine(im, scale=z)) for z in (0.9, 1.1)]
    if quick:
        keep = {"720p", "light x0.8", "5500 K", "jpeg 60", "roll +4", "zoom 1.1"}
        out = [p for p in out if p.name in keep]
    return out


@dataclass
class Trial:
    photo: str
    perturbation: str
    kind: str
    accepted: bool
    reasons: list[str]
    values: dict[tuple[str, str], float]


ACNE_SCORES = ("acne_grade", "lesion_count", "acne_grade_class")
ACNE_UNITS = {"acne_grade": "grade 0-3 (expected)", "lesion_count": "lesions", "acne_grade_class": "grade 0-3"}


def measure_photo(
    rgb: np.ndarray, mesh: face.FaceMesh | None = None, classifier=None, stored_only: bool = True
) -> tuple[bool, list[str], dict[tuple[str, str], float]]:
    """(not refused by the gate, its reasons, {(condition, region): value}) for one photo: the
    values a check-in would store, each only where the gate supports it (``stored_only=False``:
    every value, over every region, whatever the gate says); with ``classifier`` also the acne
    model's expected grade, lesion count and most likely grade (``ACNE_SCORES``)."""
    found = face.detect(rgb, mesh)
    aligned = face.align(rgb, found)
    masks = face.region_masks(aligned.landmarks)
    verdict = quality.quality(rgb, found, aligned, masks=masks)
    if stored_only:
        kept = verdict.supported(measure.measure(aligned.image, verdict.visible(masks)))
    else:
        kept = measure.measure(aligned.image, masks)
    values = {(m.condition, m.region): m.value for m in kept}
    if classifier is not None and (verdict.supports(quality.MODEL[0]) or not stored_only):
        p = classifier.predict(aligned.image)
        values.update(
            {
                (c, measure.WHOLE_FACE): float(v)
                for c, v in zip(ACNE_SCORES, (p.expected_grade, p.lesions, p.grade), strict=True)
            }
        )
    return not verdict.refused, verdict.reasons, values


def run_trials(
    photos: dict[str, np.ndarray],
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    classifier=None,
    stored_only: bool = True,
) -> list[Trial]:
    """Measure (and with ``classifier`` score) every photo and each of its perturbations: what a
    check-in would store of each (``stored_only``), or every value."""
    trials = []
    for name, rgb in photos.items():
        versions = [Perturbation("original", "original", lambda im: im)] + perturbations(rgb, quick)
        for p in versions:
            if progress:
                progress(f"{name}: {p.name}")
            try:
                ok, reasons, values = measure_photo(p.apply(rgb), classifier=classifier, stored_only=stored_only)
            except face.FaceRejected as exc:
                ok, reasons, values = False, [str(exc)], {}
            trials.append(Trial(name, p.name, p.kind, ok, reasons, values))
    return trials


def _pooled(groups: list[np.ndarray]) -> tuple[float, float, float, int]:
    """Pooled SD, RMS of per-photo CV, mean, and n over photos with at least two values."""
    groups = [g for g in groups if len(g) >= 2]
    if not groups:
        return math.nan, math.nan, math.nan, 0
    var = np.mean([np.var(g, ddof=1) for g in groups])
    cvs = [np.std(g, ddof=1) / abs(np.mean(g)) if abs(np.mean(g)) > 1e-9 else math.inf for g in groups]
    return (
        float(math.sqrt(var)),
        float(math.sqrt(np.mean(np.square(cvs)))),
        float(np.mean([np.mean(g) for g in groups])),
        sum(map(len, groups)),
    )


def _measurement_table(used: list[Trial]) -> dict[str, dict[str, dict]]:
    """Per condition and region: n, mean, pooled SD, CV and the smallest real change."""
    by_key: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for t in used:
        for key, v in t.values.items():
            by_key[key][t.photo].append(v)
    table: dict[str, dict[str, dict]] = defaultdict(dict)
    for (cond, region), per_photo in sorted(by_key.items()):
        sd, cv, mean, n = _pooled([np.array(v) for v in per_photo.values()])
        if n == 0:
            continue
        table[cond][region] = {
            "n": n,
            "mean": round(mean, 4),
            "sd": round(sd, 4),
            "cv": round(cv, 4) if cond in CV_CONDITIONS and math.isfinite(cv) else None,
            "smallest_change": round(MDC_FACTOR * sd, 4),
        }
    return table


def _rms_change_by_kind(
    table: dict[str, dict[str, dict]], used: list[Trial], originals: dict[str, dict]
) -> dict[str, dict[str, float]]:
    """Per condition, whole face: the RMS difference of each kind of version from the photo's original."""
    by_kind: dict[str, dict[str, float]] = defaultdict(dict)
    for cond in table:
        key = (cond, measure.WHOLE_FACE)
        for kind in KINDS:
            diffs = [
                t.values[key] - originals[t.photo][key]
                for t in used
                if t.kind == kind and key in t.values and key in originals.get(t.photo, {})
            ]
            if diffs:
                by_kind[cond][kind] = round(float(np.sqrt(np.mean(np.square(diffs)))), 4)
    return by_kind


def _grade_agreement(used: list[Trial], originals: dict[str, dict]) -> dict:
    """How often a version keeps its original's acne grade class; empty when no version has one."""
    agreement = {}
    key = ("acne_grade_class", measure.WHOLE_FACE)
    for t in used:
        if t.kind != "original" and key in t.values and key in originals.get(t.photo, {}):
            agreement.setdefault(t.photo, []).append(t.values[key] == originals[t.photo][key])
    return (
        {
            "acne_grade_agreement": {
                "share_same_grade_as_original": round(float(np.mean([a for v in agreement.values() for a in v])), 4),
                "versions": sum(map(len, agreement.values())),
                "photos_always_same": sum(all(v) for v in agreement.values()),
                "photos": len(agreement),
            }
        }
        if agreement
        else {}
    )


def summarise(trials: list[Trial], include_refused: bool = False) -> dict:
    """The repeatability table: per condition and region, n, mean, sd, cv, smallest change; and
    for the whole face the sd of each kind of perturbation against the original."""
    used = [t for t in trials if t.values and (t.accepted or include_refused)]
    table = _measurement_table(used)
    originals = {t.photo: t.values for t in trials if t.kind == "original" and t.values}
    by_kind = _rms_change_by_kind(table, used, originals)
    return {
        "source": measure.SOURCE,
        "photos": sorted({t.photo for t in trials}),
        "versions": len(trials),
        "accepted": sum(t.accepted for t in trials),
        "refused": sorted({f"{t.photo}: {t.perturbation}" for t in trials if not t.accepted}),
        "include_refused": include_refused,
        "measurements": {c: dict(r) for c, r in table.items()},
        "rms_change_by_kind": {c: dict(k) for c, k in by_kind.items()},
        **_grade_agreement(used, originals),
    }


def format_table(summary: dict, region: str = measure.WHOLE_FACE) -> str:
    """The whole-face rows as a Markdown table (the README's)."""
    lines = [
        "| measurement | unit | mean | SD | CV | smallest real change | worst perturbation (RMS change) |",
        "|---|---|---|---|---|---|---|",
    ]
    for cond, regions in summary["measurements"].items():
        row = regions.get(region)
        if row is None:
            continue
        kinds = summary["rms_change_by_kind"].get(cond, {})
        worst = max(kinds, key=kinds.get) if kinds else ""
        cv = f"{100 * row['cv']:.1f}%" if row["cv"] is not None else "n/a (SD)"
        unit = measure.CONDITIONS[cond].unit if cond in measure.CONDITIONS else ACNE_UNITS.get(cond, "")
        lines.append(
            f"| {cond} | {unit} | {row['mean']:.2f} | {row['sd']:.2f} | {cv} | {row['smallest_change']:.2f} | "
            f"{worst} ({kinds.get(worst, 0):.2f}) |"
        )
    return "\n".join(lines)


def load_photo(path: str) -> np.ndarray:
    from skintrack.capture import images

    data = Path(path).read_bytes()
    return images.load(data).rgb


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", nargs="+", metavar="PHOTO", help="frontal portraits, one face each")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--quick", action="store_true", help="one or two perturbations of each kind")
    parser.add_argument(
        "--include-refused",
        action="store_true",
        help="also count versions the quality gate refuses, and values it withholds",
    )
    parser.add_argument(
        "--write",
        metavar="FILE",
        help="also write the JSON to FILE (skintrack/capture/repeatability.json feeds the app)",
    )
    parser.add_argument(
        "--acne",
        action="store_true",
        help="also score every version with the installed acne model: expected grade, lesion count, "
        "and how often the most likely grade stays that of the original",
    )


def run(args: argparse.Namespace) -> int:
    photos = {}
    for path in args.photos:
        if not Path(path).is_file():
            raise BadValue(f"{path}: no such photo")
        photos[Path(path).name] = load_photo(path)
    classifier = None
    if args.acne:
        from skintrack.model import classifier as clf

        classifier = clf.load_default()
        if classifier is None:
            raise BadValue("--acne: no trained acne model is installed (models/resnet50-acne.pt)")
    trials = run_trials(photos, quick=args.quick, classifier=classifier, stored_only=not args.include_refused)
    if not any(t.values for t in trials if t.kind == "original"):
        raise BadValue("no face found in any of the photos: use frontal portraits with one face each")
    summary = summarise(trials, include_refused=args.include_refused)
    if args.write:
        Path(args.write).write_text(json.dumps(summary, indent=1) + "\n")
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(
            f"{len(photos)} photos, {summary['versions']} versions, {summary['accepted']} not refused by the quality gate"
        )
        print(format_table(summary))
        if "acne_grade_agreement" in summary:
            a = summary["acne_grade_agreement"]
            print(
                f"acne grade: {100 * a['share_same_grade_as_original']:.1f}% of {a['versions']} versions keep the "
                f"original's grade; {a['photos_always_same']} of {a['photos']} photos never change grade"
            )
    return 0

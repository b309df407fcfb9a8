"""Acceptance and withheld rates of the quality gate per ethnicity group, on real portraits.

Runs the check-in pipeline (``pipeline.analyse``, without the acne model) on every photo of
``faces_mebeauty`` (and, with ``--utk``, the ``faces_utk`` crops padded on every side so the
detector sees the whole face) and prints, per group and for each half of a fixed split:

- stored: the face was analysed and at least one measurement kept (what a Save stores);
- withheld: the share of stored photos with a measurement withheld, and which conditions;
- the refusal reasons, with "too dark" counted on its own.

The split is by a hash of the file name: ``tune`` is the half the limits may be looked at on,
``held`` is kept aside and never tuned on. Run from the project root::

    python tools/gate_report.py ../shared/data [--utk] [--json out.json]
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

from skintrack import face, images, pipeline

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
        return {"stored": False, "refused": ["no_face_or_image"], "withheld": [], "reason": str(exc)}
    refusals = analysis.quality.refusals if hasattr(analysis.quality, "refusals") else analysis.quality.checks
    failed = [c for c in refusals if not c.passed]
    withheld = sorted({w.condition if w.condition != face.EVERY else w.region for w in getattr(analysis, "withheld", [])})
    stored = not failed and bool(analysis.measurements)
    return {
        "stored": stored, "refused": [c.name for c in failed], "withheld": withheld if stored else [],
        "failed": [c.name for c in analysis.quality.checks if not c.passed],
        "reason": "; ".join(c.message for c in failed),
    }  # fmt: skip


def summarise(results: list[dict]) -> list[str]:
    lines = []
    for name in sorted({(r["set"], r["part"]) for r in results}):
        rows = [r for r in results if (r["set"], r["part"]) == name]
        lines.append(f"\n{name[0]} / {name[1]} ({len(rows)} photos)")
        lines.append(f"  {'group':<12}{'stored':>12}{'withheld':>10}  too dark  refusals; withheld conditions")
        by_group = defaultdict(list)
        for r in rows:
            by_group[r["group"]].append(r)
        for group, rs in sorted(by_group.items()):
            stored = [r for r in rs if r["stored"]]
            some = [r for r in stored if r["withheld"]]
            refusals = Counter(c for r in rs if not r["stored"] for c in r["refused"][:1])
            held = Counter(c for r in stored for c in r["withheld"])
            dark = sum(bool({"too_dark", "exposure"} & set(r["refused"] + r.get("failed", []))) for r in rs)
            lines.append(
                f"  {group:<12}{len(stored):>4}/{len(rs):<3}{100 * len(stored) / len(rs):4.0f}%"
                f"{100 * len(some) / max(1, len(stored)):9.0f}%  {dark:>8}  "
                f"{dict(refusals.most_common(3))}; {dict(held.most_common(4))}"
            )
    return lines


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", type=Path, help="the shared data folder (holds faces_mebeauty/)")
    p.add_argument("--utk", action="store_true", help="also the padded faces_utk crops")
    p.add_argument("--json", type=Path, help="write every photo's verdict here")
    p.add_argument("--limit", type=int, help="only the first N photos (a quick look)")
    return p


def main(args: argparse.Namespace) -> int:
    mesh = face.FaceMesh()
    results = []
    for kind, group, path, pad in photos(args.data, args.utk)[: args.limit]:
        data = _padded_jpeg(path) if pad else path.read_bytes()
        results.append({"set": kind, "group": group, "image": path.name, "part": part(path.name), **verdict(data, mesh)})
    print("\n".join(summarise(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))

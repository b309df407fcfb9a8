"""Grouped splits for training and testing the acne model (issue 15), written as small CSVs.

- ``acne04``: every photo of ``../shared/data/acne04`` (train and valid alike) by person
  (``subjects.csv``): about a fifth of the people go to ``test`` (kept untouched until a
  model's final look), the rest to folds 0-4 for grouped 5-fold cross-validation.
- ``acne_frontal``: no person ids, so near-duplicate faces are grouped first. Each photo is
  aligned as the app aligns a selfie (``dataset.align_or_resize``); two photos are linked
  when their aligned faces look alike (correlation of 32x32 grey thumbnails of the face) and
  their face shapes are close (RMS distance of the 468 aligned mesh points), by
  ``LINK_RULES``; the groups are the connected components of those links. These features
  catch repeats of a face from one sitting, not the same person in unrelated photos (no
  face-recognition model is installed). Groups then go to ``test`` and folds
  0-4 as above.

Groups are assigned greedily, largest first (ties in a fixed hash order), each to the part
whose grade mix (acne04: Hayashi grade; acne_frontal: lesion count 0, 1, 2-5, >5) falls
furthest short of its share, so every part holds about the same mix. The result depends only
on the data and ``--seed``.

    .venv/bin/python tools/make_splits.py acne04
    .venv/bin/python tools/make_splits.py acne_frontal   # aligns 2,557 photos: about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.config import PROJECT_ROOT

DATA = PROJECT_ROOT.parent / "shared" / "data"
OUT = PROJECT_ROOT / "models" / "splits"
CACHE = PROJECT_ROOT / "cache" / "splits"
PARTS = ("test", "0", "1", "2", "3", "4")
SHARES = (0.2, 0.16, 0.16, 0.16, 0.16, 0.16)
FACE_BOX = (90, 57, 422, 467)  # the canonical face in the aligned frame (acne.Preprocess)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", choices=("acne04", "acne_frontal"))
    p.add_argument("--data", type=Path, default=None, help="the dataset folder (default ../shared/data/<dataset>)")
    p.add_argument("--out", type=Path, default=None, help="CSV to write (default models/splits/<dataset>.csv)")
    p.add_argument("--seed", type=int, default=0, help="orders groups of equal size")
    return p


# acne_frontal: two faces are linked when, for any (c, r) here, their aligned 32x32 grey face
# thumbnails correlate at least c and their aligned mesh points lie within r px RMS (of 512).
# Set by looking at contact sheets of the closest pairs (2026-12-01): thumbnails above 0.915
# were mostly the same person; 0.86-0.915 was the same person only where the face shapes were
# also close; shape alone (RMS under 3 px) mostly paired different people with similar faces,
# so it needs some likeness too. Linking two strangers only makes a group bigger (harmless for
# a split); missing a repeat leaks a person across parts, so the rules lean towards linking.
LINK_RULES = ((0.915, float("inf")), (0.86, 7.0), (0.5, 2.8))


def assign(groups: dict[str, list[int]], strata: list[int], n_strata: int, seed: int = 0) -> dict[str, str]:
    """Group -> part, largest group first, each to the part furthest below its share of the
    photos of that group's strata."""
    strata = np.asarray(strata)
    total = np.bincount(strata, minlength=n_strata).astype(float)
    shares = np.asarray(SHARES)
    have = np.zeros((len(PARTS), n_strata))

    def key(g: str):
        return (-len(groups[g]), hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())

    out = {}
    for g in sorted(groups, key=key):
        mix = np.bincount(strata[groups[g]], minlength=n_strata)
        # shortfall of each part on this group's strata, relative to the part's share
        need = ((shares[:, None] * total[None, :] - have) * mix[None, :]).sum(1) / shares
        k = int(np.argmax(need))
        have[k] += mix
        out[g] = PARTS[k]
    return out


def acne04(args) -> list[dict]:
    from skintrack.model import dataset

    rows = dataset.read_labels(args.data)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if not r["subject"]:
            raise ValueError(f"{r['image']} has no subject in subjects.csv")
        groups.setdefault(r["subject"], []).append(i)
    part = assign(groups, [int(r["severity_grade"]) for r in rows], 4, args.seed)
    return [
        {
            "image": r["image"],
            "group": r["subject"],
            "severity_grade": r["severity_grade"],
            "n_lesions": r["n_lesions"],
            "shared_split": r["split"],
            "part": part[r["subject"]],
        }
        for r in rows
    ]


def frontal_features(data: Path, rows: list[dict]) -> dict[str, np.ndarray]:
    """Aligned 32x32 grey face thumbnails (standardised) and aligned mesh points, cached."""
    import cv2

    from skintrack.model import dataset

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / "acne_frontal_features.npz"
    names = [r["image"] for r in rows]
    if path.is_file():
        cached = np.load(path)
        if list(cached["images"]) == names:
            return dict(cached)
    thumbs, shapes, found = [], [], []
    x0, y0, x1, y1 = FACE_BOX
    for i, r in enumerate(rows):
        rgb = cv2.cvtColor(cv2.imread(str(data / r["image"]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        img, _, lm = dataset.align_or_resize(rgb)
        grey = cv2.cvtColor(img[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        t = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        thumbs.append((t - t.mean()) / (t.std() + 1e-6))
        shapes.append(np.zeros((468, 2), np.float32) if lm is None else lm[:468, :2].astype(np.float32))
        found.append(lm is not None)
        if (i + 1) % 250 == 0:
            print(f"aligned {i + 1} of {len(rows)}", flush=True)
    feats = {
        "images": np.array(names),
        "thumbs": np.stack(thumbs),
        "shapes": np.stack(shapes),
        "found": np.array(found),
    }
    np.savez_compressed(path, **feats)
    return feats


def link_groups(feats: dict[str, np.ndarray], rules=LINK_RULES) -> tuple[np.ndarray, dict]:
    """Connected components of the near-duplicate links; and how many links each rule made."""
    t = feats["thumbs"] / np.sqrt(feats["thumbs"].shape[1])
    corr = t @ t.T
    s = feats["shapes"].reshape(len(t), -1)
    sq = (s * s).sum(1)
    rms = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * s @ s.T, 0) / 468)
    found = feats["found"]
    rms[~(found[:, None] & found[None, :])] = np.inf  # no landmarks: no shape to compare
    per_rule = [np.triu((corr >= c) & (rms <= r), 1) for c, r in rules]
    links = np.logical_or.reduce(per_rule)
    parent = np.arange(len(t))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(links), strict=True):
        parent[root(i)] = root(j)
    labels = np.array([root(i) for i in range(len(t))])
    stats = {
        "links_per_rule": {f"corr>={c},rms<={r}": int(m.sum()) for (c, r), m in zip(rules, per_rule, strict=True)},
        "links": int(links.sum()),
    }
    return labels, stats


def count_stratum(n: int) -> int:
    return 0 if n == 0 else 1 if n == 1 else 2 if n <= 5 else 3


def acne_frontal(args) -> tuple[list[dict], dict]:
    from skintrack.model import dataset

    rows = dataset.read_labels(args.data)
    feats = frontal_features(args.data, rows)
    labels, stats = link_groups(feats)
    groups: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(f"g{lab:04d}", []).append(i)
    name = {i: g for g, idx in groups.items() for i in idx}
    part = assign(groups, [count_stratum(int(r["n_lesions"])) for r in rows], 4, args.seed)
    sizes = np.bincount([len(v) for v in groups.values()])
    stats.update(
        n_groups=len(groups),
        group_sizes={int(k): int(v) for k, v in enumerate(sizes) if v},
        no_face=int((~feats["found"]).sum()),
    )
    out = [
        {
            "image": r["image"],
            "group": name[i],
            "source": r["source"],
            "n_lesions": r["n_lesions"],
            "part": part[name[i]],
        }
        for i, r in enumerate(rows)
    ]
    return out, stats


def main(args: argparse.Namespace) -> int:
    args.data = args.data or DATA / args.dataset
    args.out = args.out or OUT / f"{args.dataset}.csv"
    stats = {}
    if args.dataset == "acne04":
        rows = acne04(args)
    else:
        rows, stats = acne_frontal(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    per_part = {p: sum(r["part"] == p for r in rows) for p in PARTS}
    print(
        json.dumps(
            {
                "out": str(args.out),
                "photos": len(rows),
                "groups": len({r["group"] for r in rows}),
                "photos_per_part": per_part,
                **stats,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))

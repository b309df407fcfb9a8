"""Align the photos of a fine-tune on ACNE04 and acne_frontal once, into one training cache.

Writes, like ``tools/prepare_acne04.py``, aligned 512x512 JPEGs and an ``index.json`` that
``python -m skintrack train --cache`` reads:
- split ``train``: the shared ACNE04 ``train`` photos (grade and lesion boxes) and a seeded
  sample of acne_frontal photos from folds 0-4 of ``models/splits/acne_frontal.csv`` (lesion
  boxes of the acne and pimple classes, no grade: ``grade`` is null and the grade loss is
  masked for them); never its ``test`` part;
- split ``valid``: the ACNE04 ``valid`` photos of people who are also in ``train`` (by
  ``subjects.csv``), for the per-epoch log only, so the ``valid`` photos of new people stay
  out of training altogether.
Lesion box centres are moved into the aligned frame by the alignment matrix
(``dataset.prepare_photo``, the app's own alignment).

It also writes ``parts/``, a view of acne_frontal (links to its images and boxes) whose
``labels.csv`` has a ``split`` column from the grouped split (``test``, ``fold0``-``fold4``),
so ``python -m skintrack evaluate --data CACHE/parts --split test`` measures the held-out part.

    PYTHONPATH=. .venv/bin/python tools/prepare_finetune.py ../shared/data/acne04 \\
        ../shared/data/acne_frontal cache/finetune --frontal-sample 1200 --workers 2
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.config import PROJECT_ROOT
from skintrack.files import write_atomic
from skintrack.model import dataset

SPLIT_FILE = PROJECT_ROOT / "models" / "splits" / "acne_frontal.csv"


def frontal_view(frontal: Path, split_file: Path, out: Path) -> Path:
    """``out``: acne_frontal's files linked, with a labels.csv whose ``split`` is each photo's part."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("images", "yolo_labels", "classes.txt", "meta.csv"):
        link = out / name
        if not link.exists():
            link.symlink_to((frontal / name).resolve())
    with split_file.open(newline="") as f:
        part = {r["image"]: r["part"] for r in csv.DictReader(f)}
    with (frontal / "labels.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [r["image"] for r in rows if r["image"] not in part]
    if missing:
        raise SystemExit(f"{len(missing)} photos of {frontal} have no part in {split_file} (e.g. {missing[0]})")
    lines = [[*rows[0].keys(), "split"]]
    lines += [[*r.values(), "test" if part[r["image"]] == "test" else f"fold{part[r['image']]}"] for r in rows]
    with (out / "labels.csv").open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    return out


def _align(job: tuple[str, str, dict, str, Path]) -> dict:
    data, prefix, row, split, out = job
    item = dataset.prepare_photo(data, row)
    name = Path(prefix) / Path(row["image"]).with_suffix(".jpg")
    dest = out / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(dest), cv2.cvtColor(item.pop("image"), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    item.pop("landmarks")
    item.update(file=str(name), split=split, dataset=prefix)
    return item


def jobs(acne04: Path, view: Path, out: Path, frontal_sample: int, seed: int) -> list[tuple]:
    """What to align: (data folder, dataset name, labels row, cache split, cache folder)."""
    rows = dataset.read_labels(acne04)
    train_people = {r["subject"] for r in rows if r["split"] == "train"}
    todo = [(str(acne04), "acne04", r, "train", out) for r in rows if r["split"] == "train"]
    todo += [
        (str(acne04), "acne04", r, "valid", out) for r in rows if r["split"] == "valid" and r["subject"] in train_people
    ]
    folds = [r for r in dataset.read_labels(view) if r["split"] != "test"]
    if frontal_sample and frontal_sample < len(folds):
        folds = random.Random(seed).sample(folds, frontal_sample)
    todo += [(str(view), "acne_frontal", r, "train", out) for r in folds]
    return todo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("acne04", type=Path, help="the ACNE04 folder (labels.csv with split, subjects.csv)")
    parser.add_argument("frontal", type=Path, help="the acne_frontal folder")
    parser.add_argument("out", type=Path, help="cache folder to write")
    parser.add_argument("--split-file", type=Path, default=SPLIT_FILE, help="acne_frontal's grouped parts")
    parser.add_argument("--frontal-sample", type=int, default=0, help="seeded sample of N fold photos (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    view = frontal_view(args.frontal, args.split_file, args.out / "parts")
    todo = jobs(args.acne04, view, args.out, args.frontal_sample, args.seed)
    index = []
    with Pool(args.workers) as pool:
        for i, item in enumerate(pool.imap(_align, todo, chunksize=8)):
            index.append(item)
            if i % 100 == 0:
                print(f"{i}/{len(todo)} {item['source']} aligned={item['aligned']}", flush=True)
    write_atomic(args.out / "index.json", json.dumps(index).encode())
    counts = {(it["dataset"], it["split"]): 0 for it in index}
    for it in index:
        counts[it["dataset"], it["split"]] += 1
    print(f"wrote {len(index)} photos to {args.out}: {counts}; {sum(not it['aligned'] for it in index)} without a face")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

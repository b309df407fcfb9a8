"""Align every photo of an acne04-format folder once and cache it for training.

For each row of ``labels.csv`` this writes the 512x512 aligned face (``skintrack.capture.face``)
as a JPEG and records, in ``index.json``, the grade, the lesion count, the lesion box
centres moved into the aligned frame by the alignment matrix, and the ITA.
Photos where MediaPipe finds no face (mostly profile views, which lean severe) are kept:
they fall back to a resize of the whole photo (``aligned: false``), so training does not
silently lose its hardest cases.

    .venv/bin/python tools/prepare_acne04.py ../shared/data/acne04 cache/acne04_aligned
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.files import write_atomic
from skintrack.model import dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with labels.csv (acne04 format)")
    parser.add_argument("out", type=Path, help="cache folder to write")
    args = parser.parse_args(argv)
    rows = dataset.read_labels(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    index = []
    for i, row in enumerate(rows):
        item = dataset.prepare_photo(args.data, row)
        name = Path(row["image"]).with_suffix(".jpg")
        dest = args.out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dest), cv2.cvtColor(item.pop("image"), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        item.pop("landmarks")
        item["file"] = str(name)
        index.append(item)
        if i % 50 == 0:
            print(f"{i}/{len(rows)} {row['image']} aligned={item['aligned']}", flush=True)
    write_atomic(args.out / "index.json", json.dumps(index).encode())
    n_fallback = sum(not it["aligned"] for it in index)
    print(f"wrote {len(index)} photos to {args.out} ({n_fallback} without a face: whole-photo resize)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m skintrack rescore``: score the whole history again with a (new) acne model.

Old scores stay: each model writes under its own ``source`` (``resnet50-acne@<id>``), so a
history can be compared across models. Entries already scored by this model are skipped.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from skintrack.capture.quality import MODEL
from skintrack.config import Settings
from skintrack.db import store
from skintrack.errors import BadValue
from skintrack.model import classifier as clf


def rescore(settings: Settings, model, batch_size: int = 16, progress=None) -> int:
    """Score every entry not yet scored by ``model`` whose photo supports the acne model (the gate
    withholds it from a soft, turned or cut face: see ``withheld``); returns how many were scored."""
    entries = store.entries(settings)
    done = set(store.scores(settings).query("source == @model.source")["entry_id"])
    todo = entries[~entries["id"].isin(done | unsupported(settings))]
    scored = 0
    for start in range(0, len(todo), batch_size):
        batch = todo.iloc[start : start + batch_size]
        faces = [
            np.asarray(Image.open(io.BytesIO(store.read_image(settings, p))).convert("RGB"))
            for p in batch["aligned_path"]
        ]
        predictions = model.predict_batch(faces)
        rows = [
            (int(entry_id), model.source, condition, region, value)
            for entry_id, prediction in zip(batch["id"], predictions, strict=True)
            for condition, region, value in prediction.scores()
        ]
        store.add_scores(settings, rows)
        scored += len(batch)
        if progress is not None:
            progress(len(batch))
    return scored


def unsupported(settings: Settings) -> set[int]:
    """The entries whose photo the gate found unfit for the acne model."""
    held = store.withheld(settings)
    return {int(i) for i in held.loc[held["condition"].isin(MODEL), "entry_id"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint to score with (default: the installed model)")


def run(args: argparse.Namespace) -> int:
    if args.model and not Path(args.model).is_file():
        raise BadValue(f"--model {args.model}: no such checkpoint file")
    model = clf.load(args.model) if args.model else clf.load_default()
    if model is None:
        raise BadValue("no trained acne model is installed under models/; give one with --model PATH")
    total = len(store.entries(args.settings))
    with tqdm(total=total, desc="rescoring", unit="photo", file=sys.stderr) as bar:
        scored = rescore(args.settings, model, progress=bar.update)
    print(f"scored {scored} of {total} entries with {model.source} (earlier scores kept)")
    if skipped := unsupported(args.settings):
        print(f"{len(skipped)} not scored: their photos do not support the acne model (the withheld table says why)")
    return 0

"""Write a trained checkpoint's held-out metrics into it, from ``evaluate --json``, before shipping.

``python -m skintrack train`` records the metrics of its own per-epoch split; a model fine-tuned
with ``tools/prepare_finetune.py``'s cache logs the ACNE04 ``valid`` photos of people who are
also in ``train``, which are not held out by person. This replaces ``metrics`` (accuracy,
balanced accuracy, n, ...) and ``metrics_by_group`` with what ``evaluate --json`` measured on
photos of people not in training (``--exclude-subjects-of train``), keeps the training log's
figures as ``train_selection_metrics``, and records the acne_frontal photos and terms in
``data``. The weights (and so the id) are not touched.

    PYTHONPATH=. .venv/bin/python tools/stamp_heldout.py cache/runs/ft256/final.pt \\
        cache/eval/ft256-acne04-newpeople.json cache/runs/ft256/shipped.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.errors import BadValue
from skintrack.model import classifier as clf

FRONTAL_TERMS = (
    "acne_frontal (../shared/data/acne_frontal, see its SOURCE.md): FFHQ-style Flickr crops (CC BY-NC-SA) and "
    "web and phone photos of unclear copyright; research only. A model trained on it inherits these terms."
)


def stamp(ckpt: dict, result: dict, frontal_train: int) -> dict:
    """``ckpt`` with ``result`` (evaluate --json on ACNE04 people not in train) as its metrics."""
    grouping = result.get("grouping") or {}
    if grouping.get("exclude_subjects_of") != "train":
        raise BadValue("the evaluation was not run with --exclude-subjects-of train: not held out by person")
    if result["model"].rsplit("@", 1)[-1] != ckpt["id"]:
        raise BadValue(f"the evaluation measured {result['model']}, not this checkpoint (id {ckpt['id']})")
    metrics = {k: v for k, v in result.items() if k not in ("photos", "by_group", "by_column", "grouping")}
    out = dict(ckpt)
    out["train_selection_metrics"] = ckpt.get("metrics")
    out["metrics"] = {
        **metrics,
        "split": "valid, people not in train (evaluate --exclude-subjects-of train)",
        "grouping": grouping,
    }
    out["metrics_by_group"] = result["by_group"]
    data = dict(ckpt.get("data") or {})
    data.update(
        name="ACNE04 + acne_frontal (lesion counts only)",
        terms=f"{data.get('terms', '')} {FRONTAL_TERMS}".strip(),
        n_train_acne_frontal=frontal_train,
        n_train_acne04=data.get("n_train", 0) - frontal_train,
    )
    out["data"] = data
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("evaluation", type=Path, help="evaluate --json of ACNE04 valid, --exclude-subjects-of train")
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--cache", type=Path, default=Path("cache/finetune"), help="the training cache (counts its photos)"
    )
    args = parser.parse_args(argv)
    index = json.loads((args.cache / "index.json").read_text())
    frontal = sum(it.get("dataset") == "acne_frontal" and it["split"] == "train" for it in index)
    ckpt = stamp(clf.read(args.checkpoint), json.loads(args.evaluation.read_text()), frontal)
    clf.save(ckpt, args.out)
    m = ckpt["metrics"]
    print(f"wrote {args.out} (id {ckpt['id']}): accuracy {m['accuracy']:.3f} on {m['n']} photos of people not in train")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

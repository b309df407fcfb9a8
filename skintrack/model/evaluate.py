"""Evaluate an acne classifier on a labelled folder, overall and per skin-tone group.

The folder is read by ``skintrack.model.dataset`` (acne04's format). A folder with counts and
no grades (acne_frontal) is measured on count agreement only: lesion MAE and Spearman; grade
accuracy is then omitted, not derived from the count, because its counts are of the whole
face and Hayashi's grade counts half of it. Photos where no face is found are counted in
their own group, since skin tone cannot be measured without the mask.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from skintrack.errors import BadValue
from skintrack.model import classifier as clf
from skintrack.model.dataset import (
    NO_FACE_GROUP,
    exclude_subjects_of,
    prepare_photo,
    read_labels,
    sample_rows,
    skin_tone,
)
from skintrack.model.metrics import grade_metrics, summary


def predict_with_density(classifier, aligned_rgb: np.ndarray):
    """(Prediction, density map or None) of one aligned face. The torch classifier gives its
    density head's map; a served model gives it where its Prediction carries one."""
    if isinstance(classifier, clf.Classifier):
        import torch

        r = classifier.forward_batch(classifier.preprocess(aligned_rgb)[None])
        probs = torch.softmax(r["logits"].float(), dim=1)[0]
        return clf._prediction(probs, r["count"][0]), r["density"][0].float().numpy()
    pred = classifier.predict(aligned_rgb)
    return pred, getattr(pred, "density", None)


def photo_record(classifier, item: dict, row: dict) -> dict:
    """One photo's labels and the model's prediction, with lesions per region and half face."""
    from skintrack.model import lesions

    pred, density = predict_with_density(classifier, item["image"])
    rec = {
        "image": row["image"],
        "group": row.get("subject") or None,
        "split": row.get("split") or None,
        "aligned": item["aligned"],
        "ita": None if item["ita"] is None else round(item["ita"], 2),
        "ita_group": item["ita_group"],
        "grade_true": item["grade"],
        "grade_pred": pred.grade,
        "probs": [round(p, 5) for p in pred.probs],
        "lesions_true": item["n_lesions"]
        if item["n_lesions"] is not None
        else (None if item["points"] is None else len(item["points"])),
        "lesions_pred": round(pred.lesions, 3),
    }
    if density is not None:
        counts = lesions.density_counts(density, item["landmarks"], classifier.pre)
        rec["regions_pred"] = {k: round(v, 3) for k, v in counts.items()}
        rec["grade_from_halves"] = lesions.grade_from_halves(counts)
    rec["regions_true"] = lesions.point_counts(item["points"], item["landmarks"])
    return rec


def evaluate_model(
    classifier: clf.Classifier,
    data_dir: str | Path,
    split: str | None = None,
    progress=None,
    exclude_subjects: str | None = None,
    by: tuple[str, ...] = (),
    sample: int | None = None,
    seed: int = 0,
) -> dict:
    """Metrics of ``classifier`` on a labelled folder: overall, per ITA skin-tone group and per
    value of each ``by`` column of labels.csv, with every photo's prediction (``photos``).
    ``exclude_subjects``: leave out the photos of people who also appear in that split.
    ``sample``: a uniform random sample of that many of the photos (seeded; labels.csv order)."""
    all_rows = read_labels(data_dir)
    rows = read_labels(data_dir, split) if split is not None else all_rows
    grouping = None
    if exclude_subjects is not None:
        rows, grouping = exclude_subjects_of(rows, all_rows, exclude_subjects)
    if sample is not None and sample < len(rows):
        rows, note = sample_rows(rows, sample, seed)
        grouping = {**(grouping or {}), **note}
    missing = [c for c in by if c not in rows[0]]
    if missing:
        raise BadValue(f"column {missing[0]!r} not in labels.csv; columns there: {', '.join(rows[0])}")
    photos = []
    for i, row in enumerate(rows):
        rec = photo_record(classifier, prepare_photo(data_dir, row), row)
        rec.update({c: row[c] for c in by})
        photos.append(rec)
        if progress is not None:
            progress(i + 1, len(rows))
    result = summary(photos)
    result.update(model=classifier.source, data=str(data_dir), split=split, grouping=grouping)
    from skintrack.capture import colour

    order = [name for _, name in colour.ITA_GROUPS] + [NO_FACE_GROUP]
    result["by_group"] = {g: summary(sel) for g in order if (sel := [p for p in photos if p["ita_group"] == g])}
    result["by_column"] = {
        c: {v: summary([p for p in photos if p[c] == v]) for v in sorted({p[c] for p in photos})} for c in by
    }
    result["photos"] = photos
    return result


def evaluate_tone_shift(
    classifier: clf.Classifier, data_dir: str | Path, split: str | None, targets: list[float], progress=None
) -> dict:
    """A paired skin-tone test: every photo with a face, as it is and re-rendered at each
    target ITA (``skintrack.model.tone.shift_tone``, on the face-skin mask), graded by the same
    model. Per target: the metrics, how often the grade and the count stayed what they were
    on the photo as it is, and the ITA groups the re-rendered photos were measured in.

    The same photos and labels at every tone, so a difference between tones is the model's,
    not the sample's (ACNE04 holds 18 brown and 2 dark valid photos)."""
    from skintrack.capture import colour

    rows = read_labels(data_dir, split)
    keys = ["as is"] + [f"ITA {t:+.0f}" for t in targets]
    truth, lt = [], []
    probs = {k: [] for k in keys}
    counts = {k: [] for k in keys}
    groups = {k: [] for k in keys}
    for i, row in enumerate(rows):
        item = prepare_photo(data_dir, row)
        if progress is not None:
            progress(i + 1, len(rows))
        if not item["aligned"]:
            continue
        renders = [(item["image"], item["ita_group"])]
        for t in targets:
            image, measured = reshade(item["image"], item["landmarks"], t, item["ita"])
            renders.append((image, colour.ita_group(measured)))
        preds = classifier.predict_batch([image for image, _ in renders])
        truth.append(item["grade"])
        lt.append(math.nan if item["n_lesions"] is None else item["n_lesions"])
        for k, (_, group), pred in zip(keys, renders, preds, strict=True):
            probs[k].append(pred.probs)
            counts[k].append(pred.lesions)
            groups[k].append(group)
    base_grade = np.argmax(probs["as is"], 1) if truth else np.zeros(0, int)
    out = {"model": classifier.source, "data": str(data_dir), "split": split, "n": len(truth), "by_tone": {}}
    for k in keys:
        m = grade_metrics(truth, probs[k], lt, counts[k])
        m["grade_unchanged"] = float(np.mean(np.argmax(probs[k], 1) == base_grade)) if truth else math.nan
        m["mean_count_change"] = float(np.mean(np.subtract(counts[k], counts["as is"]))) if truth else math.nan
        m["measured_groups"] = {g: groups[k].count(g) for g in dict.fromkeys(groups[k])}
        out["by_tone"][k] = m
    return out


def reshade(
    aligned_rgb: np.ndarray, landmarks: np.ndarray, ita: float, measured: float | None = None, rounds: int = 4
) -> tuple[np.ndarray, float]:
    """The aligned face re-rendered (``tone.shift_image`` on the face skin) until the app's own
    skin-tone measurement, which white-balances first, reads about ``ita`` degrees; returns the
    image and the ITA measured on it. ``measured``: the face's ITA as it is, where known."""
    from skintrack.capture import face
    from skintrack.model import tone

    skin = face.face_mask(landmarks)
    raw = tone.image_ita(aligned_rgb, skin)  # shift_tone's own reading
    start = skin_tone(aligned_rgb, landmarks)[0] if measured is None else measured
    aim = raw + ita - (raw if start is None else start)
    image, reading = aligned_rgb, math.nan
    for _ in range(rounds):
        image = tone.shift_image(aligned_rgb, max(-85.0, min(85.0, aim)), skin)
        reading = skin_tone(image, landmarks)[0]
        if abs(reading - ita) < 2:
            break
        aim += ita - reading
    return image, reading


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: the shipped model)")
    parser.add_argument("--data", type=Path, required=True, help="folder with labels.csv (acne04 format)")
    parser.add_argument(
        "--split",
        default="auto",
        help="rows of labels.csv with this split; 'all' for every row; 'auto' (default): "
        "the 'valid' rows where labels.csv has them, else every row",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the metrics as JSON, with every photo's prediction under 'photos'"
    )
    parser.add_argument(
        "--exclude-subjects-of",
        metavar="SPLIT",
        default=None,
        help="leave out photos of people who also appear in SPLIT (needs subjects.csv: "
        "acne04_id,subject), e.g. 'train' for figures on new people only",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="a uniform random sample of N of the photos (after --split and --exclude-subjects-of)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample")
    parser.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="COLUMN",
        help="also report per value of this labels.csv column (e.g. source); repeatable",
    )
    parser.add_argument(
        "--tone-shift",
        type=parse_angles,
        default=None,
        metavar="ITA[,ITA...]",
        help="paired skin-tone test instead: every photo with a face also re-rendered at "
        "these ITA angles in degrees (brown: -30 to 10, dark: below -30), e.g. 0,-45",
    )


def parse_angles(text: str) -> list[float]:
    try:
        out = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ITA angles in degrees separated by commas, got {text!r}") from None
    if not out or any(not -90 < t < 90 for t in out):
        raise argparse.ArgumentTypeError(f"ITA angles lie between -90 and 90 degrees, got {text!r}")
    return out


def format_report(r: dict) -> str:
    """The metrics as plain text."""

    def line(name, m):
        s = f"{name:<14} n={m['n']:<4}"
        if m.get("n_graded"):
            s += (
                f" acc={m['accuracy']:.3f} bal_acc={m['balanced_accuracy']:.3f} "
                f"macro_f1={m['macro_f1']:.3f} ece={m['ece']:.3f}"
            )
        if m.get("n_counted"):
            rho = m["spearman_lesions"]
            s += f" mae_lesions={m['mae_lesions']:.2f} spearman_lesions={'n/a' if rho is None else f'{rho:.3f}'}"
        return s

    head = f"model {r['model']} on {r['data']} (split {r['split'] or 'all'})"
    g = r.get("grouping") or {}
    if "exclude_subjects_of" in g:
        head += (
            f", without the {g['n_dropped']} of {g['n_before']} photos of people also in "
            f"{g['exclude_subjects_of']!r} ({g['n_subjects']} people left)"
        )
    if "sample" in g:
        head += f", a random sample of {g['sample']} of {g['sample_of']} photos (seed {g['seed']})"
    out = [head, line("all", r)]
    if r.get("n_graded"):
        out.append("confusion (rows true, columns predicted: " + ", ".join(clf.GRADE_NAMES) + ")")
        out += ["  " + " ".join(f"{v:4d}" for v in row) for row in r["confusion"]]
    else:
        out.append("no severity_grade in the labels: grade accuracy not measured, count agreement only")
    out.append("by skin-tone group (ITA measured on each aligned photo):")
    out += ["  " + line(g, m) for g, m in r["by_group"].items()]
    for c, groups in r.get("by_column", {}).items():
        out.append(f"by {c}:")
        out += ["  " + line(g, m) for g, m in groups.items()]
    return "\n".join(out)


def format_tone_report(r: dict) -> str:
    """The paired skin-tone test as plain text."""
    out = [
        f"model {r['model']} on {r['data']} (split {r['split'] or 'all'}): {r['n']} photos with a face, "
        "each graded as it is and re-rendered at each skin tone"
    ]
    for k, m in r["by_tone"].items():
        groups = ", ".join(f"{g} {n}" for g, n in m["measured_groups"].items())
        out.append(
            f"{k:<8} acc={m['accuracy']:.3f} bal_acc={m['balanced_accuracy']:.3f} "
            f"mae_lesions={m.get('mae_lesions', math.nan):.2f} grade_unchanged={m['grade_unchanged']:.3f} "
            f"count_change={m['mean_count_change']:+.2f}  measured as: {groups}"
        )
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    path = args.model or clf.default_path()
    if path is None:
        raise BadValue(f"no model installed under {clf.MODELS_DIR}; pass --model PATH")
    classifier = clf.load(path)
    split = None if args.split in (None, "all") else args.split
    if split == "auto":
        splits = {r.get("split") for r in read_labels(args.data)}
        split = "valid" if "valid" in splits else None
    progress = None
    if not args.json:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="photo")

        def progress(i, n):
            bar.total = n
            bar.update(1)

    if getattr(args, "tone_shift", None):
        result = evaluate_tone_shift(classifier, args.data, split, args.tone_shift, progress)
        print(json.dumps(result, indent=2) if args.json else format_tone_report(result))
        return 0
    result = evaluate_model(
        classifier,
        args.data,
        split,
        progress,
        exclude_subjects=args.exclude_subjects_of,
        by=tuple(args.by),
        sample=args.sample,
        seed=args.seed,
    )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="evaluate an acne classifier")
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))

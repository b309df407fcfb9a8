"""Measure a trained checkpoint on held-out photos and install it as the shipped model.

Runs ``evaluate.evaluate_model`` (each photo aligned from the raw file, as the app does;
skin tone measured on each) and the paired skin-tone test (``evaluate_tone_shift``) on the
given split, with the half-precision weights exactly as they will ship, writes those metrics
into the checkpoint and saves it under models/.
It refuses to ship a model that does not beat always answering the most common grade.

    .venv/bin/python tools/ship_model.py cache/runs/resnet50-192/best.pt ../shared/data/acne04
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.model import classifier as clf
from skintrack.model import dataset
from skintrack.model import evaluate as ev


def markdown(result: dict, title: str) -> str:
    """The metrics as the model card's tables."""
    names = ev.clf.GRADE_NAMES
    m = result
    lines = [
        f"### {title}",
        "",
        "| n | accuracy | balanced accuracy | macro-F1 | lesion MAE | grade from count (Hayashi rule) | ECE (10 bins) | MAE of expected grade |",
        "|---|---|---|---|---|---|---|---|",
        f"| {m['n']} | {m['accuracy']:.3f} | {m['balanced_accuracy']:.3f} | {m['macro_f1']:.3f} | {m.get('mae_lesions', float('nan')):.2f} "
        f"| {m.get('accuracy_from_count', float('nan')):.3f} | {m['ece']:.3f} | {m['mae_grade']:.3f} |",
        "",
        "Confusion matrix (rows: true grade, columns: predicted):",
        "",
        "| true \\ predicted | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    lines += [f"| {names[i]} | " + " | ".join(str(v) for v in row) + " |" for i, row in enumerate(m["confusion"])]
    lines += [
        "",
        "By skin-tone group (ITA measured on each aligned photo; 'no face found': whole-photo fallback, tone not measured):",
        "",
        "| group | n | accuracy | balanced accuracy | macro-F1 | lesion MAE | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for g, gm in m["by_group"].items():
        lines.append(
            f"| {g} | {gm['n']} | {gm['accuracy']:.3f} | {gm['balanced_accuracy']:.3f} | {gm['macro_f1']:.3f} "
            f"| {gm.get('mae_lesions', float('nan')):.2f} | {gm['ece']:.3f} |"
        )
    if "by_tone" in m:
        lines += [
            "",
            "Paired skin-tone test (every photo with a face, as it is and re-rendered at each ITA; "
            "`evaluate --tone-shift`):",
            "",
            "| tone | measured as | accuracy | balanced accuracy | lesion MAE | grade unchanged | mean count change |",
            "|---|---|---|---|---|---|---|",
        ]
        for k, tm in m["by_tone"].items():
            groups = ", ".join(f"{g} {n}" for g, n in tm["measured_groups"].items())
            lines.append(
                f"| {k} | {groups} | {tm['accuracy']:.3f} | {tm['balanced_accuracy']:.3f} "
                f"| {tm.get('mae_lesions', float('nan')):.2f} | {tm['grade_unchanged']:.3f} | {tm['mean_count_change']:+.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--split", default="valid")
    parser.add_argument("--out", type=Path, default=clf.MODELS_DIR / clf.DEFAULT_NAME)
    parser.add_argument("--report", type=Path, default=None, help="also write the metrics as JSON here")
    parser.add_argument(
        "--tone-shift",
        type=ev.parse_angles,
        default=[20.0, 0.0, -45.0],
        metavar="ITA[,ITA...]",
        help="the paired skin-tone test (evaluate --tone-shift) at these ITA angles, kept in the "
        "checkpoint as metrics_by_tone for the Check-in page (default 20,0,-45: tan, brown, dark)",
    )
    args = parser.parse_args(argv)

    ckpt = clf.read(args.checkpoint)
    model = clf.Classifier(clf.build(ckpt), ckpt)  # fp16 weights as stored, before any metrics are trusted
    result = ev.evaluate_model(model, args.data, args.split)
    grades = [int(r["severity_grade"]) for r in dataset.read_labels(args.data, args.split)]
    majority = Counter(grades).most_common(1)[0][1] / len(grades)
    result["majority_baseline_accuracy"] = majority
    print(ev.format_report(result))
    print(f"majority-class baseline accuracy {majority:.3f}")
    tone = ev.evaluate_tone_shift(model, args.data, args.split, args.tone_shift)
    print(ev.format_tone_report(tone))
    result["by_tone"] = tone["by_tone"]
    if args.report:
        args.report.write_text(json.dumps(result, indent=2))
        args.report.with_suffix(".md").write_text(markdown(result, f"{ckpt['arch']} @ {ckpt['id']}") + "\n")
    if result["accuracy"] <= majority:
        print(f"not shipped: accuracy {result['accuracy']:.3f} does not beat the majority class ({majority:.3f})")
        return 1
    by_group, by_tone = result.pop("by_group"), result.pop("by_tone")
    result.pop("photos", None)  # every photo's prediction: in --report, too big for the checkpoint
    result.pop("by_column", None)
    if "train_selection_metrics" not in ckpt:  # a model shipped again keeps what training selected on
        ckpt["train_selection_metrics"] = ckpt.get("metrics")
    ckpt["metrics"] = {**result, "split": args.split}
    ckpt["metrics_by_group"] = by_group
    ckpt["metrics_by_tone"] = {
        "n": tone["n"],
        "split": args.split,
        "by_tone": by_tone,
        "method": "every photo with a face re-rendered at each ITA (skintrack.tone.shift_tone on the "
        "face skin, until the app's measurement reads it) and graded again",
    }
    clf.save(ckpt, args.out)
    size = args.out.stat().st_size
    print(f"shipped {args.out} ({size / 1e6:.1f} MB), id {ckpt['id']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

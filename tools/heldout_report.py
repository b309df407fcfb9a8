"""The shipped acne model's figures on people and photos it was not trained on (issue 15).

Reads what ``python -m skintrack evaluate --json`` wrote for (a) the ACNE04 ``valid`` photos of
people not in ``train`` (``--exclude-subjects-of train``) and (b) ``acne_frontal`` (all of it,
or a seeded sample: ``--sample``; ``--by subset --by pose``), adds 95% bootstrap intervals that resample people (ACNE04 ``subject``) or
near-duplicate face groups (acne_frontal, from ``models/splits/acne_frontal.csv``; single
photos where that file is absent), checks issue 15's targets, and writes the small JSON the
Check-in page quotes (``skintrack.model.modelcard``), keyed by the model's id; prints the model
card's tables.

    .venv/bin/python -m skintrack evaluate --data ../shared/data/acne04 --split valid \\
        --exclude-subjects-of train --json > cache/eval/acne04-valid-newpeople.json
    .venv/bin/python -m skintrack evaluate --data ../shared/data/acne_frontal --split all \\
        --by subset --by pose --sample 600 --seed 0 --json > cache/eval/acne_frontal-sample600.json
    .venv/bin/python tools/heldout_report.py cache/eval/acne04-valid-newpeople.json cache/eval/acne_frontal-sample600.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skintrack.config import PROJECT_ROOT
from skintrack.model import dataset, metrics, modelcard

MIN_GROUP = 15  # ITA groups with fewer photos are listed, not judged
COMMANDS = {
    "acne04": "python -m skintrack evaluate --data ../shared/data/acne04 --split valid --exclude-subjects-of train --json",
    "acne_frontal": "python -m skintrack evaluate --data ../shared/data/acne_frontal --split all --by subset --by pose "
    "--sample 600 --seed 0 --json",
}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("acne04", type=Path, help="evaluate --json of ACNE04 valid, people of train left out")
    p.add_argument("frontal", type=Path, help="evaluate --json of all of acne_frontal")
    p.add_argument(
        "--frontal-split",
        type=Path,
        default=PROJECT_ROOT / "models" / "splits" / "acne_frontal.csv",
        help="near-duplicate groups of acne_frontal (tools/make_splits.py), resampled together",
    )
    p.add_argument("--out", type=Path, default=None, help="default: models/<model>.eval.json beside the shipped model")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--acne04-command", default=COMMANDS["acne04"], help="the command that wrote ACNE04, as recorded")
    p.add_argument(
        "--frontal-command", default=COMMANDS["acne_frontal"], help="the command that wrote FRONTAL, as recorded"
    )
    p.add_argument(
        "--frontal-trained",
        action="store_true",
        help="the model was trained on acne_frontal's folds 0-4 and FRONTAL measures its untouched test part",
    )
    return p


def bootstrap(photos: list[dict], groups: list[str], stat, n: int = 2000, seed: int = 0) -> list[float]:
    """95% percentile interval of ``stat(photos)`` resampling whole groups with replacement."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[dict]] = {}
    for p, g in zip(photos, groups, strict=True):
        by.setdefault(g, []).append(p)
    keys = list(by)
    vals = []
    for _ in range(n):
        pick = rng.integers(0, len(keys), len(keys))
        v = stat([p for k in pick for p in by[keys[k]]])
        if v is not None:
            vals.append(v)
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


def accuracy(photos):
    return float(np.mean([p["grade_pred"] == p["grade_true"] for p in photos]))


def mae(photos):
    return float(np.mean([abs(p["lesions_pred"] - p["lesions_true"]) for p in photos]))


def spearman(photos):
    return metrics.count_metrics([p["lesions_true"] for p in photos], [p["lesions_pred"] for p in photos])[
        "spearman_lesions"
    ]


def by_ita(photos: list[dict], stats: dict) -> dict:
    from skintrack.capture import colour

    out = {}
    for g in [name for _, name in colour.ITA_GROUPS] + [dataset.NO_FACE_GROUP]:
        if not any(p["ita_group"] == g for p in photos):
            continue
        sel = [p for p in photos if p["ita_group"] == g]
        out[g] = {"n": len(sel), **{k: f(sel) for k, f in stats.items()}}
    return out


def target(name, value, ci, ok, clearly) -> dict:
    return {"target": name, "value": value, "ci95": ci, "met": bool(ok), "clearly_met": bool(clearly)}


def tone_target(groups: dict, overall: float, key: str, scale: float) -> dict:
    judged = {
        g: m for g, m in groups.items() if m["n"] >= MIN_GROUP and g != dataset.NO_FACE_GROUP and m[key] is not None
    }
    worst = min(judged, key=lambda g: judged[g][key]) if judged else None
    gap = None if worst is None else (overall - judged[worst][key]) * scale
    return {
        "target": f"no ITA group with >= {MIN_GROUP} photos more than 10 points below the overall {key}",
        "groups_judged": {g: m["n"] for g, m in judged.items()},
        "worst_group": worst,
        "gap_points": gap,
        "met": gap is not None and gap <= 10,
    }


def acne04_figures(r: dict, boot: int, command: str = COMMANDS["acne04"]) -> dict:
    photos = r["photos"]
    groups = [p["group"] for p in photos]
    out = {
        "what": "ACNE04 valid photos of people who are not in train (subjects.csv); these photos were used to "
        "choose between training stages, so person-disjoint from training, not from selection",
        "command": command,
        "n": r["n"],
        "n_people": r["grouping"]["n_subjects"],
        "n_left_out": r["grouping"]["n_dropped"],
        **{
            k: r.get(k)
            for k in (
                "accuracy",
                "balanced_accuracy",
                "macro_f1",
                "mae_lesions",
                "spearman_lesions",
                "mean_count_error",
                "accuracy_from_count",
                "accuracy_from_halves",
                "confusion",
            )
        },
        "majority_baseline_accuracy": max(Counter(p["grade_true"] for p in photos).values()) / len(photos),
        "accuracy_ci95": bootstrap(photos, groups, accuracy, boot),
        "mae_lesions_ci95": bootstrap(photos, groups, mae, boot),
        "by_ita": by_ita(photos, {"accuracy": accuracy, "mae_lesions": mae}),
    }
    out["targets"] = [
        target(
            "accuracy >= 0.80",
            out["accuracy"],
            out["accuracy_ci95"],
            out["accuracy"] >= 0.80,
            out["accuracy_ci95"][0] >= 0.80,
        ),
        target(
            "lesion MAE <= 4",
            out["mae_lesions"],
            out["mae_lesions_ci95"],
            out["mae_lesions"] <= 4,
            out["mae_lesions_ci95"][1] <= 4,
        ),
        tone_target(out["by_ita"], out["accuracy"], "accuracy", 100),
    ]
    return out


def frontal_groups(photos: list[dict], split: Path) -> tuple[list[str], str]:
    if not split.is_file():
        return [p["image"] for p in photos], "single photos (no near-duplicate groups file)"
    with split.open(newline="") as f:
        group = {r["image"]: r["group"] for r in csv.DictReader(f)}
    return [group[p["image"]] for p in photos], f"near-duplicate face groups of {split.name}"


def frontal_figures(
    r: dict, split: Path, boot: int, command: str = COMMANDS["acne_frontal"], trained: bool = False
) -> dict:
    photos = r["photos"]
    groups, unit = frontal_groups(photos, split)
    median = float(np.median([p["lesions_true"] for p in photos]))
    g = r.get("grouping") or {}
    which = (
        f"a uniform random sample of {g['sample']} of the {g['sample_of']} photos (seed {g['seed']})"
        if "sample" in g
        else "all"
    )
    seen = (
        "the model was trained on other acne_frontal photos (folds 0-4 of the grouped split), never on these "
        "or on their near-duplicates"
        if trained
        else "never used to train or select this model"
    )
    out = {
        "what": f"acne_frontal{' test part' if trained else ''}, {which} (frontal faces, whole-face lesion counts: acne + "
        f"pimple boxes); {seen}; no grade labels, so grade accuracy is not measured",
        "frontal_in_training": trained,
        "sample_of": g.get("sample_of"),
        "command": command,
        "n": r["n"],
        "n_groups": len(set(groups)),
        "resampled": unit,
        **{k: r.get(k) for k in ("spearman_lesions", "mae_lesions", "mean_count_error")},
        # what always guessing the median labelled count would score: a count worse than this tells nothing
        "mae_constant_median": float(np.mean([abs(p["lesions_true"] - median) for p in photos])),
        "median_count": median,
        "spearman_ci95": bootstrap(photos, groups, spearman, boot),
        "mae_lesions_ci95": bootstrap(photos, groups, mae, boot),
        **{
            f"by_{c}": {
                k: {
                    "n": m["n"],
                    "spearman_lesions": m.get("spearman_lesions"),
                    "mae_lesions": m.get("mae_lesions"),
                    "mean_count_error": m.get("mean_count_error"),
                }
                for k, m in r["by_column"][c].items()
            }
            for c in ("subset", "pose")
        },
        "by_ita": by_ita(photos, {"spearman_lesions": spearman, "mae_lesions": mae}),
    }
    rho = out["spearman_lesions"]
    out["targets"] = [
        target(
            "lesion-count Spearman >= 0.70", rho, out["spearman_ci95"], rho >= 0.70, out["spearman_ci95"][0] >= 0.70
        ),
        target(
            "lesion MAE <= 2",
            out["mae_lesions"],
            out["mae_lesions_ci95"],
            out["mae_lesions"] <= 2,
            out["mae_lesions_ci95"][1] <= 2,
        ),
        tone_target(out["by_ita"], rho, "spearman_lesions", 100),
    ]
    return out


def _f(v, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def markdown(fig: dict) -> str:
    a, f = fig["acne04_new_people"], fig["acne_frontal"]

    def ci(v):
        return f"{v[0]:.3f}-{v[1]:.3f}"

    lines = [
        "| measured on | n | accuracy (95% CI) | lesion MAE (95% CI) | count Spearman | grade from count | grade from larger half |",
        "|---|---|---|---|---|---|---|",
        f"| ACNE04 valid, people not in train ({a['n_people']} people) | {a['n']} | {a['accuracy']:.3f} ({ci(a['accuracy_ci95'])}) "
        f"| {a['mae_lesions']:.2f} ({ci(a['mae_lesions_ci95'])}) | {a['spearman_lesions']:.3f} | {a['accuracy_from_count']:.3f} "
        f"| {a.get('accuracy_from_halves') or float('nan'):.3f} |",
        f"\nAlways answering the most common grade: {a['majority_baseline_accuracy']:.3f}.",
        "",
        "| measured on | n | count Spearman (95% CI) | lesion MAE (95% CI) | mean error (predicted - labelled) |",
        "|---|---|---|---|---|",
        f"| acne_frontal{', sample' if f.get('sample_of') else ''} ({f['n_groups']} groups) | {f['n']} | {f['spearman_lesions']:.3f} ({ci(f['spearman_ci95'])}) "
        f"| {f['mae_lesions']:.2f} ({ci(f['mae_lesions_ci95'])}) | {f['mean_count_error']:+.2f} |",
    ]
    lines += [
        f"| acne_frontal, {k} | {m['n']} | {_f(m['spearman_lesions'], 3)} | {m['mae_lesions']:.2f} | {m['mean_count_error']:+.2f} |"
        for c in ("subset", "pose")
        for k, m in f[f"by_{c}"].items()
    ]
    lines += [
        "",
        f"Always guessing the median labelled count ({f['median_count']:.0f}): lesion MAE {f['mae_constant_median']:.2f}.",
        "",
        "By skin-tone group (ITA measured on each aligned face):",
        "",
        "| group | ACNE04 new people n | accuracy | lesion MAE | acne_frontal n | count Spearman | lesion MAE |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in dict.fromkeys([*a["by_ita"], *f["by_ita"]]):
        x, y = a["by_ita"].get(g), f["by_ita"].get(g)
        left = f"{x['n']} | {x['accuracy']:.3f} | {x['mae_lesions']:.2f}" if x else "0 | | "
        rho = None if not y else y["spearman_lesions"]
        right = f"{y['n']} | {'n/a' if rho is None else f'{rho:.3f}'} | {y['mae_lesions']:.2f}" if y else "0 | | "
        lines.append(f"| {g} | {left} | {right} |")
    lines += ["", "| target | value | 95% CI | met | clearly met (whole CI) |", "|---|---|---|---|---|"]
    for t in a["targets"] + f["targets"]:
        if "value" in t:
            lines.append(
                f"| {t['target']} | {t['value']:.3f} | {ci(t['ci95'])} | {'yes' if t['met'] else 'no'} | {'yes' if t['clearly_met'] else 'no'} |"
            )
        else:
            gap = "n/a" if t["gap_points"] is None else f"{t['worst_group']} {t['gap_points']:.1f} points below"
            lines.append(
                f"| {t['target']} | {gap} | groups judged: {t['groups_judged']} | {'yes' if t['met'] else 'no'} | |"
            )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    a, f = (json.loads(p.read_text()) for p in (args.acne04, args.frontal))
    if a["model"] != f["model"]:
        raise ValueError(f"the two files measure different models: {a['model']} and {f['model']}")
    if not a.get("grouping") or a["grouping"].get("exclude_subjects_of") != "train":
        raise ValueError(f"{args.acne04} was not run with --exclude-subjects-of train")
    fig = {
        "model": a["model"],
        "model_id": a["model"].rsplit("@", 1)[1],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "acne04_new_people": acne04_figures(a, args.boot, args.acne04_command),
        "acne_frontal": frontal_figures(f, args.frontal_split, args.boot, args.frontal_command, args.frontal_trained),
    }
    out = args.out or modelcard.eval_path()
    out.write_text(json.dumps(fig, indent=1) + "\n")
    print(markdown(fig))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))

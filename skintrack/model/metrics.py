"""Metrics of the acne model's predictions against labels: grade agreement (accuracy,
balanced accuracy, macro-F1, confusion, calibration) and lesion-count agreement (MAE,
Spearman), and their summary over a list of per-photo records. Numpy only, no torch.
"""

from __future__ import annotations

import math

import numpy as np

from skintrack.model.acne import GRADE_NAMES, grade_from_count

N_GRADES = len(GRADE_NAMES)


def grade_metrics(y_true, probs, lesions_true=None, lesions_pred=None, n_bins: int = 10) -> dict:
    """Accuracy, balanced accuracy, macro-F1, confusion matrix, ECE, lesion MAE."""
    y = np.asarray(y_true, int)
    p = np.asarray(probs, np.float64).reshape(len(y), N_GRADES)
    pred = p.argmax(1)
    conf = np.zeros((N_GRADES, N_GRADES), int)  # rows: true, columns: predicted
    for t, q in zip(y, pred, strict=True):
        conf[t, q] += 1
    recalls, f1s = [], []
    for k in range(N_GRADES):
        tp, support, predicted = conf[k, k], conf[k].sum(), conf[:, k].sum()
        if support:
            recalls.append(tp / support)
        if support or predicted:
            f1s.append(2 * tp / (support + predicted))
    confidence = p.max(1)
    correct = (pred == y).astype(float)
    ece = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (confidence > lo) & (confidence <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    out = {
        "n": int(len(y)),
        "accuracy": float(correct.mean()) if len(y) else math.nan,
        "balanced_accuracy": float(np.mean(recalls)) if recalls else math.nan,
        "macro_f1": float(np.mean(f1s)) if f1s else math.nan,
        "mae_grade": float(np.abs((p * np.arange(N_GRADES)).sum(1) - y).mean()) if len(y) else math.nan,
        "ece": float(ece),
        "confusion": conf.tolist(),
    }
    if lesions_true is not None and lesions_pred is not None:
        lt = np.asarray(lesions_true, float)
        lp = np.asarray(lesions_pred, float)
        ok = ~np.isnan(lt)
        if ok.any():
            out.update({k: v for k, v in count_metrics(lt, lp).items() if k != "n_counted"})
            out["accuracy_from_count"] = float(
                np.mean([grade == grade_from_count(c) for grade, c in zip(y[ok], lp[ok], strict=True)])
            )
    return out


def count_metrics(lesions_true, lesions_pred) -> dict:
    """Agreement of predicted with labelled lesion counts (photos without a label skipped):
    MAE, Spearman rank correlation (None under 3 photos or with a constant side), mean error."""
    from scipy.stats import spearmanr

    lt = np.asarray(lesions_true, float)
    lp = np.asarray(lesions_pred, float)
    ok = ~np.isnan(lt)
    lt, lp = lt[ok], lp[ok]
    out = {"n_counted": int(ok.sum())}
    if not len(lt):
        return out
    rho = None  # undefined: JSON null, not NaN
    if len(lt) >= 3 and np.ptp(lt) > 0 and np.ptp(lp) > 0:
        rho = float(spearmanr(lt, lp).statistic)
    out.update(
        mae_lesions=float(np.abs(lt - lp).mean()), spearman_lesions=rho, mean_count_error=float((lp - lt).mean())
    )
    return out


def summary(photos: list[dict]) -> dict:
    """Metrics of a list of per-photo records (``evaluate_model``'s ``photos``): the grade
    metrics over the photos with a labelled grade (none without), the count metrics over
    those with a labelled count; ``n`` counts every photo."""
    graded = [p for p in photos if p["grade_true"] is not None]
    out: dict = {}
    if graded:
        out.update(
            grade_metrics(
                [p["grade_true"] for p in graded],
                [p["probs"] for p in graded],
                [_nan(p["lesions_true"]) for p in graded],
                [p["lesions_pred"] for p in graded],
            )
        )
    out.update(count_metrics([_nan(p["lesions_true"]) for p in photos], [p["lesions_pred"] for p in photos]))
    halves = [p for p in graded if p.get("grade_from_halves") is not None]
    if halves:
        out["accuracy_from_halves"] = float(np.mean([p["grade_from_halves"] == p["grade_true"] for p in halves]))
    out["n"], out["n_graded"] = len(photos), len(graded)
    return out


def _nan(v) -> float:
    return math.nan if v is None else float(v)

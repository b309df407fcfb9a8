"""What the app says about how well the acne model does: its figures on people it was not
trained on, read without torch.

``tools/heldout_report.py`` measures a model on ACNE04 photos of people outside its training
split and on acne_frontal (frontal faces it never saw) and writes ``models/<model>.eval.json``
beside it, stamped with the model's id. ``heldout`` returns those figures only for the model
they were measured on (a card that carries them itself, under ``heldout``, wins), so a newer
model never borrows an older one's numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

from skintrack.model.acne import DEFAULT_NAME, MODELS_DIR


def eval_path(name: str = DEFAULT_NAME, models_dir: Path = MODELS_DIR) -> Path:
    """Where the held-out figures of the model file ``name`` live: ``<stem>.eval.json``."""
    return Path(models_dir) / (Path(name).stem + ".eval.json")


def heldout(card: dict, path: Path | None = None) -> dict | None:
    """The person-grouped held-out figures of the model ``card`` describes, or None where
    none were measured for this model (by id)."""
    figures = card.get("heldout")
    if figures is None:
        path = eval_path() if path is None else path
        if not path.is_file():
            return None
        figures = json.loads(path.read_text())
    return figures if figures.get("model_id") == card.get("id") else None


def accuracy_line(card: dict, path: Path | None = None) -> str:
    """One or two sentences for the Check-in page: how the model did on people it was not
    trained on; where that was never measured, says so and what the other figure counts."""
    h = heldout(card, path)
    if h is None:
        m = card.get("metrics") or {}
        return (
            f"How this model does on people it was not trained on has not been measured; it graded "
            f"{m.get('accuracy', float('nan')):.1%} of {m.get('n', '?')} test photos correctly, but some of "
            "those show people it was trained on (see the Data page for its limits)."
        )
    a, f = h["acne04_new_people"], h["acne_frontal"]
    rho = f["spearman_lesions"]
    ranked = "closely" if rho >= 0.7 else "loosely" if rho >= 0.4 else "poorly"
    return (
        f"On {a['n']} photos of {a['n_people']} people it was not trained on (clinic photos, mostly side views) it "
        f"graded {a['accuracy']:.0%} correctly (95% interval {a['accuracy_ci95'][0]:.0%}-{a['accuracy_ci95'][1]:.0%}), "
        f"its lesion count off by {a['mae_lesions']:.1f} on average. On {f['n']} frontal faces like a selfie, "
        + (
            "kept out of its training (it learnt from other frontal faces)"
            if f.get("frontal_in_training")
            else "which it never saw in training"
        )
        + f", its count was off by {f['mae_lesions']:.1f} lesions on average and its ranking of "
        f"the faces agreed {ranked} with the labelled counts (Spearman {rho:.2f}; 1 is perfect)"
        + (
            f": no better than always guessing {f['median_count']:.0f} (off by {f['mae_constant_median']:.1f}), so on a "
            "frontal selfie read its count and grade as a rough guide at most."
            if f.get("mae_constant_median") is not None and f["mae_lesions"] >= f["mae_constant_median"]
            else "."
        )
        + " See the Data page for its limits."
    )

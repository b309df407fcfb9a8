"""modelcard: the held-out figures the Check-in page quotes, only for the model they measured."""

from __future__ import annotations

import json

from skintrack.model import acne, modelcard

FIGURES = {
    "model_id": "abc123def456",
    "acne04_new_people": {
        "n": 96,
        "n_people": 80,
        "accuracy": 0.70,
        "accuracy_ci95": [0.61, 0.79],
        "mae_lesions": 5.04,
    },
    "acne_frontal": {
        "n": 600,
        "spearman_lesions": 0.41,
        "mae_lesions": 2.6,
        "mae_constant_median": 1.6,
        "median_count": 1.0,
    },
}


def test_the_page_quotes_people_the_model_was_not_trained_on(tmp_path):
    path = tmp_path / "m.eval.json"
    path.write_text(json.dumps(FIGURES))
    card = {"id": "abc123def456", "metrics": {"accuracy": 0.806, "n": 283}}
    assert modelcard.heldout(card, path)["acne04_new_people"]["n"] == 96
    line = modelcard.accuracy_line(card, path)
    assert "On 96 photos of 80 people it was not trained on" in line and "graded 70% correctly" in line
    assert "95% interval 61%-79%" in line and "Spearman 0.41" in line and "loosely" in line
    assert "no better than always guessing 1 (off by 1.6)" in line
    assert "80.6%" not in line
    better = {**FIGURES, "acne_frontal": {**FIGURES["acne_frontal"], "mae_lesions": 1.2, "spearman_lesions": 0.8}}
    path.write_text(json.dumps(better))
    line = modelcard.accuracy_line(card, path)
    assert "agreed closely" in line and "no better" not in line and "never saw in training" in line
    # a model fine-tuned on other frontal faces is not said to have never seen one
    path.write_text(json.dumps({**better, "acne_frontal": {**better["acne_frontal"], "frontal_in_training": True}}))
    line = modelcard.accuracy_line(card, path)
    assert "kept out of its training (it learnt from other frontal faces)" in line and "never saw" not in line


def test_figures_of_another_model_are_never_quoted(tmp_path):
    path = tmp_path / "m.eval.json"
    path.write_text(json.dumps(FIGURES))
    card = {"id": "000000000000", "metrics": {"accuracy": 0.806, "n": 283}}
    assert modelcard.heldout(card, path) is None
    line = modelcard.accuracy_line(card, path)
    assert "has not been measured" in line and "80.6% of 283" in line and "trained on" in line
    assert modelcard.heldout(card, tmp_path / "absent.json") is None
    assert (
        modelcard.heldout({**card, "heldout": {**FIGURES, "model_id": "000000000000"}}, path)["model_id"]
        == "000000000000"
    )


def test_the_figures_file_lies_beside_the_model():
    assert modelcard.eval_path() == acne.MODELS_DIR / "resnet50-acne.eval.json"

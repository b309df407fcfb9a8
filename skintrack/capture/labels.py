"""What a stored condition is called and measured in, for every page, report and summary."""

from __future__ import annotations

from skintrack.capture import measure

# Acne model outputs charted besides the measurements: label and unit.
MODEL_OUTPUTS: dict[str, tuple[str, str]] = {
    "acne_grade": ("Acne grade (expected; 0 mild to 3 very severe)", "grade"),
    "lesion_count": ("Acne lesions (estimated count)", "lesions"),
}


def label_unit(condition: str) -> tuple[str, str]:
    """(label, unit) of ``condition``: a measurement's, a model output's, else its name in words and no unit."""
    if condition in measure.CONDITIONS:
        spec = measure.CONDITIONS[condition]
        return spec.label, spec.unit
    return MODEL_OUTPUTS.get(condition, (condition.replace("_", " "), ""))


def label(condition: str) -> str:
    """``label_unit``'s label."""
    return label_unit(condition)[0]

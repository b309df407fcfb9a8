"""Colour and texture measurements per skin region of the aligned face.

No learned weights: each measurement is a formula over the pixels of a region, with its
unit, its direction and its reference given in ``CONDITIONS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SOURCE = "measure@1"
WHOLE_FACE = "face"


@dataclass(frozen=True)
class Condition:
    """What a measurement means: label, unit, whether higher is worse, and its reference."""

    label: str
    unit: str
    higher_is_worse: bool | None
    meaning: str
    reference: str


CONDITIONS: dict[str, Condition] = {
    "redness": Condition(
        "Redness (a*)", "a*", True,
        "How red the skin is: CIELAB a*, the red-green axis; higher is redder.",
        "CIE 1976 L*a*b*; a* as an erythema index: Takiwaki et al., Skin Res Technol 1998.",
    ),
    "ita": Condition(
        "Skin tone (ITA)", "degrees", None,
        "Individual typology angle: higher is lighter skin. It describes tone; it is not a score.",
        "ITA = atan((L* - 50) / b*): Chardon et al., Int J Cosmet Sci 1991.",
    ),
}  # fmt: skip

# ITA groups (Chardon 1991; Del Bino 2013): lower bound in degrees, name.
ITA_GROUPS = [(55.0, "very light"), (41.0, "light"), (28.0, "intermediate"), (10.0, "tan"), (-30.0, "brown"), (-math.inf, "dark")]


@dataclass(frozen=True)
class Measurement:
    condition: str
    region: str
    value: float


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> CIELAB float (L* 0-100, a*, b*), D65."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def ita_degrees(lightness: float, b_star: float) -> float:
    """Individual typology angle in degrees, atan2 form so b* near 0 stays defined."""
    return math.degrees(math.atan2(lightness - 50.0, b_star))


def ita_group(ita: float) -> str:
    for bound, name in ITA_GROUPS:
        if ita > bound:
            return name
    return ITA_GROUPS[-1][1]


def measure(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray]) -> list[Measurement]:
    """Every measurement for each region with enough pixels, and for the whole face."""
    lab = to_lab(aligned_rgb)
    regions = dict(masks)
    regions[WHOLE_FACE] = np.logical_or.reduce(list(masks.values()))
    out: list[Measurement] = []
    for region, mask in regions.items():
        if mask.sum() < 50:
            continue
        pixels = lab[mask]
        lightness, a_star, b_star = np.median(pixels, axis=0)
        out.append(Measurement("redness", region, float(np.mean(pixels[:, 1]))))
        out.append(Measurement("ita", region, ita_degrees(float(lightness), float(b_star))))
    return out


def describe(measurements: list[Measurement]) -> "pd.DataFrame":
    """Measurements as a readable table: measurement, region, value, unit, meaning."""
    import pandas as pd

    rows = [
        {
            "measurement": CONDITIONS[m.condition].label,
            "region": m.region.replace("_", " "),
            "value": round(m.value, 2),
            "unit": CONDITIONS[m.condition].unit,
            "meaning": CONDITIONS[m.condition].meaning,
        }
        for m in measurements
        if m.condition in CONDITIONS
    ]
    return pd.DataFrame(rows, columns=["measurement", "region", "value", "unit", "meaning"])

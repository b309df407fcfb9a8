"""Colour and texture measurements per skin region of the aligned face.

No learned weights: each measurement is a formula over the pixels of a region, with its
unit, its direction and its reference given in ``CONDITIONS``.

Order of work (``measure``):
1. White balance on the skin locus (``colour.white_balance``; why this and not the sclera or
   grey-world: colour.py).
2. Skin pixels (``colour.skin_maps``): the region masks minus specular highlights (brighter
   and less coloured than the skin) and dark outliers (hair, brows, glasses frames, nostrils,
   deep shadow).
3. Per region and for the whole face: redness, red area, ITA, evenness, dark circles,
   texture, shine and red spots.

Sizes are in pixels of the 512x512 aligned frame, where the outer eye corners are 206 px
apart (about 90 mm on an adult face: 1 mm ~ 2.3 px).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from skintrack.capture.colour import MIN_PIXELS, SkinMaps, ita_degrees, ita_group, skin_maps
from skintrack.capture.filters import (
    SPOT_SIGMAS,
    TEXTURE_PREBLUR,
    TEXTURE_SIGMAS,
    red_spots,
    shrunk,
    smooth,
    texture_band,
)

if TYPE_CHECKING:
    import pandas as pd

SOURCE = "measure@2"
WHOLE_FACE = "face"
REPEATABILITY_PATH = Path(__file__).with_name("repeatability.json")


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
        "Redness (a*)",
        "a*",
        True,
        "How red the skin is: mean CIELAB a*, the red-green axis, after white balance; higher is redder.",
        "CIE 1976 L*a*b*; a* as an erythema index: Takiwaki et al., Skin Res Technol 1998.",
    ),
    "red_area": Condition(
        "Red area",
        "%",
        True,
        "Share of the skin more than 4 a* units redder than the baseline (your own baseline when given, "
        "else this photo's median skin): blotchy or inflamed patches.",
        "Thresholded a* map, as in erythema area measurements: Yamamoto et al., Skin Res Technol 2008.",
    ),
    "ita": Condition(
        "Skin tone (ITA)",
        "degrees",
        None,
        "Individual typology angle: higher is lighter skin. It describes tone; it is not a score.",
        "ITA = atan((L* - 50) / b*): Chardon et al., Int J Cosmet Sci 1991; groups: Del Bino et al. 2013.",
    ),
    "evenness": Condition(
        "Uneven tone",
        "L*",
        True,
        "Spread of lightness across the skin once the smooth shading of the face is removed "
        "(robust SD of L* at 1-5 mm scale); higher is blotchier.",
        "Band-pass L* spread, after the uneven-pigmentation measures of Matts et al., J Invest Dermatol Symp 2007.",
    ),
    "dark_circles": Condition(
        "Dark circles",
        "L*",
        True,
        "How much darker the darkest third of the skin under the eye is than the cheek just below it "
        "(L* difference); skin without dark circles reads about 5-10, from the lid's own shading.",
        "Under-eye to cheek lightness difference: Park et al., Skin Res Technol 2016 (periorbital hyperpigmentation).",
    ),
    "texture": Condition(
        "Texture",
        "L*",
        True,
        "Roughness: band-pass energy of L* at a 2-4 mm scale (bumps, enlarged pores, scars), measured at a "
        "fixed scale of the face so the camera's resolution does not change it. Single pores are too small "
        "to see in the 512 px aligned face.",
        "Difference-of-Gaussians band energy; scale-normalised as in Lindeberg, IJCV 1998.",
    ),
    "shine": Condition(
        "Shine",
        "%",
        True,
        "Share of the T-zone (forehead and nose) that is a specular highlight: oil or sweat reflecting the light.",
        "Dichromatic reflection: highlights are brighter and less saturated than the skin (Shafer 1985).",
    ),
    "red_spots": Condition(
        "Red spots",
        "count",
        True,
        "Number of small red bumps (2-6 mm, clearly redder than the skin around them): an estimate of inflamed "
        "acne lesions, not a diagnosis. The whole-face count leaves out the nose, whose creases and natural "
        "redness read as spots.",
        "Scale-space blob detection on a* (Lindeberg 1998); checked against ACNE04 lesion counts (Wu et al., ICCV 2019).",
    ),
}


RED_AREA_DELTA = 4.0  # a* units above the baseline
SHADING_SIGMA = 12.0  # px: slower changes than this are shading, not skin
T_ZONE = ("forehead", "nose")
DARK_CIRCLE_SHARE = 1 / 3  # the darkest third of the under-eye region
# The smallest band ``noise_band`` gives, where the repeatability photos never varied (no spot
# or highlight in a region): one spot, and a fifth of a percent of the area.
NOISE_FLOOR = {"red_spots": 1.0, "shine": 0.2, "red_area": 0.2}


@dataclass(frozen=True)
class Measurement:
    condition: str
    region: str
    value: float


# ---------------------------------------------------------------- measurements


def _dark_circle(lightness: np.ndarray, clean: np.ndarray, under: np.ndarray, cheek: np.ndarray) -> float | None:
    """Median L* of the cheek just below the under-eye region minus the median L* of the
    darkest third of the region: a dark circle is a crescent along the lid or the tear
    trough, not the whole band (on dark_circles, the whole band's median gave AUC 0.56,
    its darkest third 0.66)."""
    under = under & clean
    if under.sum() < MIN_PIXELS or not cheek.any():
        return None
    rows, cols = np.nonzero(under)
    x0, x1, bottom = cols.min(), cols.max(), rows.max()
    height = max(8, rows.max() - rows.min())
    yy, xx = np.mgrid[0 : lightness.shape[0], 0 : lightness.shape[1]]
    below = cheek & clean & (xx >= x0) & (xx <= x1) & (yy > bottom) & (yy <= bottom + 1.5 * height)
    if below.sum() < MIN_PIXELS:
        return None
    values = lightness[under]
    darkest = values[values <= np.quantile(values, DARK_CIRCLE_SHARE)]
    return float(np.median(lightness[below]) - np.median(darkest))


def _shine(regions: dict[str, np.ndarray], maps: SkinMaps) -> list[Measurement]:
    """Shine of the forehead, the nose and the whole T-zone: the share of their skin that is
    a specular highlight."""
    out: list[Measurement] = []
    t_zone = (
        np.logical_or.reduce([regions[r] for r in T_ZONE if r in regions])
        if any(r in regions for r in T_ZONE)
        else None
    )
    for region, mask in [(r, regions[r]) for r in T_ZONE if r in regions] + [(WHOLE_FACE, t_zone)]:
        if mask is not None and (mask & maps.skin).sum() >= MIN_PIXELS:
            out.append(
                Measurement("shine", region, 100.0 * float(maps.specular[mask].sum() / (mask & maps.skin).sum()))
            )
    return out


def _dark_circles(lightness: np.ndarray, clean: np.ndarray, regions: dict[str, np.ndarray]) -> list[Measurement]:
    """Dark circles under each eye with its cheek below, and their mean for the whole face."""
    out: list[Measurement] = []
    sides = []
    for side in ("right", "left"):
        under, cheek = regions.get(f"under_eye_{side}"), regions.get(f"{side}_cheek")
        if under is None or cheek is None:
            continue
        value = _dark_circle(lightness, clean, under, cheek)
        if value is not None:
            sides.append(value)
            out.append(Measurement("dark_circles", f"under_eye_{side}", value))
    if sides:
        out.append(Measurement("dark_circles", WHOLE_FACE, float(np.mean(sides))))
    return out


# The reach of the widest filter: OpenCV's float Gaussian kernel spans 4 sigma each side.
WINDOW_MARGIN = math.ceil(4 * max(SHADING_SIGMA, TEXTURE_PREBLUR, *TEXTURE_SIGMAS, *SPOT_SIGMAS)) + 2


def skin_window(masks: dict[str, np.ndarray], shape: tuple[int, int], margin: int | None = None) -> tuple[slice, slice]:
    """The rows and columns of the frame within ``margin`` (default ``WINDOW_MARGIN``) of any region's pixels."""
    margin = WINDOW_MARGIN if margin is None else margin
    union = np.logical_or.reduce([m.astype(bool) for m in masks.values()]) if masks else np.zeros(shape, bool)
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    if not len(rows):
        return slice(None), slice(None)
    return (
        slice(max(0, rows[0] - margin), min(shape[0], rows[-1] + 1 + margin)),
        slice(max(0, cols[0] - margin), min(shape[1], cols[-1] + 1 + margin)),
    )


def measure(
    aligned_rgb: np.ndarray,
    masks: dict[str, np.ndarray],
    *,
    baseline: float | None = None,
    balance: bool = True,
) -> list[Measurement]:
    """Every measurement for each region with enough skin, and for the whole face.

    ``baseline`` is the user's own
    baseline redness (a*) for the red area; without it, this photo's median skin a*.
    ``balance=False`` measures the colours as they are in the photo.
    """
    # Every measurement is local to the skin: work on its bounding box plus the widest filter's
    # reach, where pixels beyond it would have added only zeros (a quarter fewer pixels here).
    window = skin_window(masks, aligned_rgb.shape[:2])
    aligned_rgb, masks = aligned_rgb[window], {name: m[window] for name, m in masks.items()}
    maps = skin_maps(aligned_rgb, masks, balance)
    lab, clean = maps.lab, maps.clean
    lightness, a_star, b_star = lab[..., 0], lab[..., 1], lab[..., 2]
    out: list[Measurement] = []
    if clean.sum() < MIN_PIXELS:
        return out
    ref = float(np.median(a_star[clean])) if baseline is None else float(baseline)
    shading = smooth(lightness, clean, SHADING_SIGMA)
    detail = smooth(lightness, clean, 1.5) - shading
    band = texture_band(lightness, clean)
    spots = red_spots(lab, clean)
    spot_mask = np.zeros_like(clean)
    if len(spots):
        spot_mask[spots[:, 0], spots[:, 1]] = True
    regions = {name: m.astype(bool) for name, m in masks.items()}
    regions[WHOLE_FACE] = maps.skin
    for region, mask in regions.items():
        px = mask & clean
        if px.sum() < MIN_PIXELS:
            continue
        inner = shrunk(mask, 3) & clean
        out.append(Measurement("redness", region, float(np.mean(a_star[px]))))
        out.append(Measurement("red_area", region, 100.0 * float(np.mean(a_star[px] > ref + RED_AREA_DELTA))))
        out.append(
            Measurement("ita", region, ita_degrees(float(np.median(lightness[px])), float(np.median(b_star[px]))))
        )
        if inner.sum() >= MIN_PIXELS:
            d = detail[inner]
            out.append(Measurement("evenness", region, float(1.4826 * np.median(np.abs(d - np.median(d))))))
            out.append(Measurement("texture", region, float(np.sqrt(np.mean(band[inner] ** 2)))))
        counted = mask & ~regions["nose"] if region == WHOLE_FACE and "nose" in regions else mask
        out.append(Measurement("red_spots", region, float(spot_mask[counted].sum())))
    out += _shine(regions, maps)
    out += _dark_circles(lightness, clean, regions)
    return out


def value(measurements: list[Measurement], condition: str, region: str = WHOLE_FACE) -> float | None:
    """The value of one measurement, or None when it was not measured."""
    for m in measurements:
        if m.condition == condition and m.region == region:
            return m.value
    return None


# ---------------------------------------------------------------- repeatability and display


@functools.lru_cache(maxsize=8)
def _read_json(path: str, mtime_ns: int) -> dict:
    return json.loads(Path(path).read_text())


def _repeatability(path: Path) -> dict:
    """The repeatability results, read again when the file changes."""
    return _read_json(str(path), path.stat().st_mtime_ns) if path.is_file() else {}


def noise_band(condition: str, region: str = WHOLE_FACE, path: Path | None = None) -> float | None:
    """The smallest real change of a measurement (same unit): a smaller change between two
    photos is within the noise of photo-taking (``repeatability.json``, see README)."""
    table = _repeatability(Path(path or REPEATABILITY_PATH)).get("measurements", {})
    row = table.get(condition, {}).get(region)
    return None if row is None else max(float(row["smallest_change"]), NOISE_FLOOR.get(condition, 0.0))


def describe(measurements: list[Measurement], repeatability: Path | None = None) -> pd.DataFrame:
    """Measurements as a readable table: measurement, region, value, unit, band, meaning.

    ``band`` is the smallest change that is more than noise (from the repeatability run).
    """
    import pandas as pd

    columns = ["measurement", "region", "value", "unit", "band", "meaning"]
    rows = []
    for m in measurements:
        if m.condition not in CONDITIONS:
            continue
        cond = CONDITIONS[m.condition]
        band = noise_band(m.condition, m.region, repeatability)
        shown = f"{m.value:.1f}" if m.condition != "ita" else f"{m.value:.1f} ({ita_group(m.value)})"
        rows.append(
            {
                "measurement": cond.label,
                "region": m.region.replace("_", " "),
                "value": shown,
                "unit": cond.unit,
                "band": "" if band is None else f"± {band:.2g}",
                "meaning": cond.meaning,
            }
        )
    return pd.DataFrame(rows, columns=columns)


# The measurements ``heatmap`` can draw over the face.
HEATMAP_CONDITIONS = ("redness", "red_spots", "evenness", "texture", "shine", "dark_circles")


def heatmap(
    aligned_rgb: np.ndarray,
    masks: dict[str, np.ndarray],
    condition: str = "redness",
    *,
    alpha: float = 0.55,
) -> np.ndarray:
    """The aligned face with one measurement drawn over its skin as a colour map (RGB uint8).

    redness and red_area: a* (white-balanced) from 8 below to 8 above the face's median; evenness: L* detail; texture: band energy;
    shine: the highlights; dark_circles: L* below the cheek's; red_spots: circles on the spots.
    """
    maps = skin_maps(aligned_rgb, masks)
    lab, clean = maps.lab, maps.clean
    out = aligned_rgb.copy()
    if condition == "red_spots":
        for r, c in red_spots(lab, clean):
            cv2.circle(out, (int(c), int(r)), 7, (255, 230, 0), 2, lineType=cv2.LINE_AA)
        return out
    if condition in ("redness", "red_area"):
        mid = float(np.median(lab[..., 1][clean])) if clean.any() else 15.0
        field, lo, hi, where = lab[..., 1], mid - 8.0, mid + 8.0, clean  # redder or paler than this face
    elif condition == "evenness":
        field = np.abs(smooth(lab[..., 0], clean, 1.5) - smooth(lab[..., 0], clean, SHADING_SIGMA))
        lo, hi, where = 0.0, 8.0, clean
    elif condition == "texture":
        field, lo, hi, where = np.abs(texture_band(lab[..., 0], clean)), 0.0, 3.0, clean
    elif condition == "shine":
        field, lo, hi, where = maps.specular.astype(np.float32), 0.0, 1.0, maps.specular
    elif condition == "dark_circles":
        cheeks = np.zeros_like(clean)
        for k, m in masks.items():
            cheeks |= m.astype(bool) & k.endswith("cheek")
        ref = float(np.median(lab[..., 0][cheeks & clean])) if (cheeks & clean).any() else 0.0
        field, lo, hi, where = ref - lab[..., 0], 0.0, 15.0, clean
    else:
        raise ValueError(f"no heat map for {condition!r}: choose one of {', '.join(CONDITIONS)} except ita")
    scaled = np.clip((field - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    colour = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    blend = (aligned_rgb.astype(np.float32) * (1 - alpha) + colour.astype(np.float32) * alpha).astype(np.uint8)
    out[where] = blend[where]
    return out

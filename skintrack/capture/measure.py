"""Colour and texture measurements per skin region of the aligned face.

No learned weights: each measurement is a formula over the pixels of a region, with its
unit, its direction and its reference given in ``CONDITIONS``.

Order of work (``measure``):
1. White balance on the skin locus (``white_balance``). A warmer or cooler light moves
   every colour of the photo along one line in log-chromaticity (the Planckian
   direction). The correction removes only the skin colour's component along that line,
   moving it to where skin of its lightness sits on average; the component across the
   line, where more blood (redness) moves skin, is kept. Tried and rejected on the
   repeatability set (README): the sclera as white reference (too few pixels in a
   selfie; squinting, lids and JPEG moved redness by 3.7 a*, worse than no correction)
   and grey-world on the background (changes from room to room).
2. Skin pixels: the region masks minus specular highlights (brighter and less coloured
   than the skin) and dark outliers (hair, brows, glasses frames, nostrils, deep shadow).
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

# ITA groups (Chardon 1991; Del Bino 2013): lower bound in degrees, name.
ITA_GROUPS = [
    (55.0, "very light"),
    (41.0, "light"),
    (28.0, "intermediate"),
    (10.0, "tan"),
    (-30.0, "brown"),
    (-math.inf, "dark"),
]

MIN_PIXELS = 50  # a region with fewer clean skin pixels is not measured
RED_AREA_DELTA = 4.0  # a* units above the baseline
SHADING_SIGMA = 12.0  # px: slower changes than this are shading, not skin
# Texture: every photo is first blurred to the sharpness of the smallest face the quality
# gate accepts (60 px between the eyes: one photo pixel ~ 3.4 aligned px), so a sharper
# camera does not read as rougher skin; then the band between Gaussians of 4 and 8 px (about
# 2 and 4 mm) is taken.
TEXTURE_PREBLUR = 3.5
TEXTURE_SIGMAS = (4.0, 8.0)
SPOT_SIGMAS = (2.0, 8.0)  # px: the lesion scale against its surroundings
SPOT_MIN_CONTRAST = 3.0  # a* units above the surroundings
SPOT_MIN_DISTANCE = 5  # px between two spots
# Skin locus: skin's log-chroma coordinate along the colour-temperature direction is on average
# SKIN_LOCUS[0] + SKIN_LOCUS[1] * (coordinate across it) + SKIN_LOCUS[2] * L* (296 faces_utk
# portraits of five race groups; residual SD 0.29, mostly the web photos' own colour casts).
SKIN_LOCUS = (-1.5136, -0.0632, 0.0125)
MAX_LOCUS_SHIFT = 0.6  # about the shift from 6500 K to 4300 K: a stronger cast is only partly undone
T_ZONE = ("forehead", "nose")
DARK_CIRCLE_SHARE = 1 / 3  # the darkest third of the under-eye region
LUMA = np.array([0.2126, 0.7152, 0.0722])  # linear sRGB -> relative luminance Y
# The smallest band ``noise_band`` gives, where the repeatability photos never varied (no spot
# or highlight in a region): one spot, and a fifth of a percent of the area.
NOISE_FLOOR = {"red_spots": 1.0, "shine": 0.2, "red_area": 0.2}


@dataclass(frozen=True)
class Measurement:
    condition: str
    region: str
    value: float


@dataclass(frozen=True)
class WhiteBalance:
    """Per-channel gains applied in linear RGB, and where they came from."""

    gains: tuple[float, float, float]
    method: str  # "skin locus" or "none: <why>"


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> CIELAB float (L* 0-100, a*, b*), D65."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 -> linear RGB float32 in 0-1 (IEC 61966-2-1)."""
    return _SRGB_TO_LINEAR[rgb]


_SRGB_TO_LINEAR = np.where(
    (c := np.arange(256, dtype=np.float64) / 255.0) <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4
).astype(np.float32)


def linear_to_lab(linear: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(linear, dtype=np.float32), cv2.COLOR_LRGB2LAB)


def ita_degrees(lightness: float, b_star: float) -> float:
    """Individual typology angle in degrees, atan2 form so b* near 0 stays defined."""
    return math.degrees(math.atan2(lightness - 50.0, b_star))


def ita_group(ita: float) -> str:
    for bound, name in ITA_GROUPS:
        if ita > bound:
            return name
    return ITA_GROUPS[-1][1]


# ---------------------------------------------------------------- white balance


def planck_white(kelvin: float) -> np.ndarray:
    """Linear sRGB of a black body at ``kelvin`` (Kim et al. 2002 cubic fit of the Planckian locus), luminance 1."""
    t = float(kelvin)
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    to_rgb = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    rgb = to_rgb @ xyz
    return rgb / (rgb @ LUMA)


def log_chroma(rgb_linear: np.ndarray) -> np.ndarray:
    """(..., 2): log(R/G), log(B/G) of linear RGB; a change of light is a shift of these."""
    x = np.maximum(np.asarray(rgb_linear, dtype=np.float64), 1e-4)
    return np.stack([np.log(x[..., 0] / x[..., 1]), np.log(x[..., 2] / x[..., 1])], axis=-1)


def _locus_axes() -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in log-chroma: along the change of colour temperature (4000 -> 9000 K,
    towards blue) and across it."""
    d = log_chroma(planck_white(9000.0)) - log_chroma(planck_white(4000.0))
    d = d / np.linalg.norm(d)
    return d, np.array([-d[1], d[0]])


LOCUS_AXIS, ACROSS_AXIS = _locus_axes()


def skin_chroma(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray | None:
    """(along, across, L*) of the face's median skin: its log-chroma coordinates along and
    across the colour-temperature direction, and its lightness; None without skin."""
    skin = np.logical_or.reduce([m.astype(bool) for m in masks.values()]) if masks else None
    if skin is None or skin.sum() < MIN_PIXELS:
        return None
    px = to_linear(aligned_rgb)[skin]
    lum = px @ LUMA
    lo, hi = np.quantile(lum, [0.2, 0.9])  # no hair or shadow, no highlights
    px = px[(lum >= lo) & (lum <= hi)]
    if len(px) < MIN_PIXELS:
        return None
    c = np.median(log_chroma(px), axis=0)
    lightness = 116.0 * float(np.median(px @ LUMA)) ** (1 / 3) - 16.0
    return np.array([c @ LOCUS_AXIS, c @ ACROSS_AXIS, lightness])


def white_balance(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray]) -> WhiteBalance:
    """Gains (linear RGB) that move the skin's colour back onto the skin locus along the
    direction a change of colour temperature moves it; greys keep their luminance.

    A warmer or cooler light shifts every colour of the photo along one line in
    log-chromaticity (the Planckian direction); skin's own changes mostly do not run
    along it: more blood lowers green and moves the colour across the line. So only the
    component along the line is removed, to where skin of the same across-coordinate and
    lightness sits on average (the skin locus, ``SKIN_LOCUS``: after Stoerring et al.
    2001; fitted on faces_utk by tools/validate_measurements.py --only locus). Melanin
    also moves skin along the line, which is why the target depends on lightness; a
    tan's yellowing beyond what its darkening predicts is removed with the cast.
    """
    c = skin_chroma(aligned_rgb, masks)
    if c is None:
        return WhiteBalance((1.0, 1.0, 1.0), "none: too little skin")
    return WhiteBalance(tuple(float(g) for g in _locus_fit(c)[0]), "skin locus")


def _locus_fit(c: np.ndarray) -> tuple[np.ndarray, float]:
    """(gains, wanted): the gains ``white_balance`` applies to skin of chroma ``c`` (clipped to
    ``MAX_LOCUS_SHIFT``), and the shift along the locus axis that the skin would need unclipped."""
    along, across, lightness = c
    log_rg, log_bg = along * LOCUS_AXIS + across * ACROSS_AXIS
    skin = np.exp([log_rg, 0.0, log_bg])
    skin *= ((lightness + 16.0) / 116.0) ** 3 / (skin @ LUMA)
    gains, wanted = np.ones(3), 0.0
    for _ in range(4):  # the target depends on the corrected skin's lightness: a few fixed-point steps
        corrected = 116.0 * float((skin * gains) @ LUMA) ** (1 / 3) - 16.0
        target = SKIN_LOCUS[0] + SKIN_LOCUS[1] * across + SKIN_LOCUS[2] * corrected
        wanted = float(target - along)
        shift = float(np.clip(wanted, -MAX_LOCUS_SHIFT, MAX_LOCUS_SHIFT)) * LOCUS_AXIS
        gains = np.array([math.exp(shift[0]), 1.0, math.exp(shift[1])])
        gains = gains / (gains @ LUMA)  # a grey keeps its luminance, as under a change of light
    return gains, wanted


def colour_cast(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray]) -> float | None:
    """How far the skin sits from the skin locus along the colour-temperature axis (log-chroma
    units; positive: a warm cast to undo), before ``white_balance`` clips it to ``MAX_LOCUS_SHIFT``.
    None without enough skin."""
    c = skin_chroma(aligned_rgb, masks)
    return None if c is None else _locus_fit(c)[1]


# ---------------------------------------------------------------- per-pixel maps


def _smooth(x: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``x`` over the pixels where ``weight`` > 0 (normalised convolution)."""
    w = weight.astype(np.float32)
    num = cv2.GaussianBlur(x.astype(np.float32) * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-6)


@dataclass(frozen=True)
class SkinMaps:
    """The white-balanced Lab image and the masks every measurement works from."""

    lab: np.ndarray  # (H, W, 3) float32
    skin: np.ndarray  # union of the regions
    clean: np.ndarray  # skin minus highlights and dark outliers
    specular: np.ndarray
    balance: WhiteBalance


def skin_maps(aligned_rgb: np.ndarray, masks: dict[str, np.ndarray], balance: bool = True) -> SkinMaps:
    """White-balance the aligned face (unless ``balance`` is False) and split its skin into
    clean, specular and rejected pixels."""
    balance = white_balance(aligned_rgb, masks) if balance else WhiteBalance((1.0, 1.0, 1.0), "none: not asked")
    lab = linear_to_lab(to_linear(aligned_rgb) * np.array(balance.gains, dtype=np.float32))
    skin = (
        np.logical_or.reduce([m.astype(bool) for m in masks.values()])
        if masks
        else np.zeros(aligned_rgb.shape[:2], bool)
    )
    if skin.sum() < MIN_PIXELS:
        empty = np.zeros_like(skin)
        return SkinMaps(lab, skin, empty, empty, balance)
    lightness, chroma = lab[..., 0], np.hypot(lab[..., 1], lab[..., 2])
    med_l, med_c = np.median(lightness[skin]), np.median(chroma[skin])
    spread = 1.4826 * np.median(np.abs(lightness[skin] - med_l))
    # Highlights: well above the skin's own lightness and paler than it.
    specular = skin & (lightness > med_l + max(8.0, 2.5 * spread)) & (chroma < med_c)
    # Hair, brows, frames, nostrils and deep shadow: far darker than the skin.
    dark = skin & (lightness < med_l - max(15.0, 3.0 * spread))
    clean = skin & ~specular & ~dark
    return SkinMaps(lab, skin, clean, specular, balance)


def _band(lightness: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """L* in the texture band (2-4 mm), after bringing every photo to the same sharpness."""
    base = _smooth(lightness, clean, TEXTURE_PREBLUR)
    fine = _smooth(base, clean, TEXTURE_SIGMAS[0])
    coarse = _smooth(base, clean, TEXTURE_SIGMAS[1])
    return fine - coarse


def _inner(mask: np.ndarray, px: int) -> np.ndarray:
    """The mask shrunk by ``px``, so filters do not see the region's edge."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def spot_map(lab: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """a* of lesion-sized bumps above their surroundings (difference of Gaussians on a*)."""
    a_star = lab[..., 1]
    return _smooth(a_star, clean, SPOT_SIGMAS[0]) - _smooth(a_star, clean, SPOT_SIGMAS[1])


def local_maxima(response: np.ndarray, min_distance: int, threshold: float) -> np.ndarray:
    """(N, 2) row, col of the local maxima of ``response`` above ``threshold``, strongest first,
    no two closer than ``min_distance`` (Chebyshev): the same points as scikit-image's
    ``peak_local_max(..., exclude_border=False)`` (a test holds them equal), on OpenCV."""
    size = 2 * min_distance + 1
    peak = cv2.dilate(response, np.ones((size, size), np.uint8))
    candidates = response == peak
    if candidates.all():  # a flat image has no peak
        return np.zeros((0, 2), int)
    rows, cols = np.nonzero(candidates & (response > threshold))
    order = np.argsort(-response[rows, cols], kind="stable")
    rows, cols = rows[order], cols[order]
    keep = np.ones(len(rows), bool)
    for i in range(len(rows)):  # plateaus give neighbouring equal maxima: keep the first
        if keep[i]:
            keep[i + 1 :] &= (np.abs(rows[i + 1 :] - rows[i]) >= min_distance) | (
                np.abs(cols[i + 1 :] - cols[i]) >= min_distance
            )
    return np.stack([rows[keep], cols[keep]], axis=1)


def red_spots(lab: np.ndarray, clean: np.ndarray, min_contrast: float = SPOT_MIN_CONTRAST) -> np.ndarray:
    """(N, 2) row, col of red spots: local maxima of ``spot_map`` at least ``min_contrast`` a* high."""
    response = spot_map(lab, clean)
    inside = _inner(clean, 2)
    response = np.where(inside, response, 0.0)
    if not inside.any():
        return np.zeros((0, 2), int)
    return local_maxima(response, SPOT_MIN_DISTANCE, min_contrast)


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
    shading = _smooth(lightness, clean, SHADING_SIGMA)
    detail = _smooth(lightness, clean, 1.5) - shading
    band = _band(lightness, clean)
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
        inner = _inner(mask, 3) & clean
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
        field = np.abs(_smooth(lab[..., 0], clean, 1.5) - _smooth(lab[..., 0], clean, SHADING_SIGMA))
        lo, hi, where = 0.0, 8.0, clean
    elif condition == "texture":
        field, lo, hi, where = np.abs(_band(lab[..., 0], clean)), 0.0, 3.0, clean
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
